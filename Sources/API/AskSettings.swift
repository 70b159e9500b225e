import Upstream
import Store

/// The limits and defaults of `POST /ask`, from configuration.
public struct AskSettings: Sendable, Equatable {
    /// The longest prompt accepted, in Unicode code points (`ASKD_MAX_PROMPT_CHARS`).
    public var maxPromptCharacters: Int
    /// The most earlier messages sent to the model (`ASKD_MAX_HISTORY_MESSAGES`).
    public var maxHistoryMessages: Int
    /// The most code points of earlier messages sent to the model (`ASKD_MAX_HISTORY_CHARS`).
    public var maxHistoryCharacters: Int
    /// Sent first, as the system message, when set (`ASKD_SYSTEM_PROMPT`).
    public var systemPrompt: String?
    /// How long a turn waits for another turn on the same conversation before it gets 409
    /// (`ASKD_TURN_WAIT_SECONDS`).
    public var turnWaitSeconds: Double
    /// The most requests of this process that wait for a turn lock at once; one more gets 409
    /// at once, so that a crowd on one conversation stays bounded (a quarter of `ASKD_THREADS`).
    public var maxTurnWaiters: Int
    /// How long a streamed answer may stay silent before askd sends a comment line, so that
    /// nginx's and proxies' read timeouts do not cut it (`ASKD_STREAM_KEEPALIVE_SECONDS`).
    public var streamKeepAliveSeconds: Double
    /// The models a request may name (`ASKD_MODELS`, comma-separated); nil: only the default.
    public var models: [String]?
    /// The largest `max_tokens` a request may ask for (`ASKD_MAX_TOKENS`).
    public var maxTokens: Int
    /// The limits of tokens that set none of their own (`ASKD_DEFAULT_RPM`, `ASKD_DEFAULT_TPM`,
    /// `ASKD_DEFAULT_TOKENS_PER_DAY`, `ASKD_DEFAULT_MAX_PARALLEL`).
    public var defaultLimits = TokenLimits()

    public init(
        maxPromptCharacters: Int = 32_000, maxHistoryMessages: Int = 50, maxHistoryCharacters: Int = 100_000,
        systemPrompt: String? = nil, turnWaitSeconds: Double = 10, streamKeepAliveSeconds: Double = 15, models: [String]? = nil,
        maxTokens: Int = 4_096, maxTurnWaiters: Int = 64
    ) {
        self.maxTurnWaiters = maxTurnWaiters
        self.models = models
        self.maxTokens = maxTokens
        self.streamKeepAliveSeconds = streamKeepAliveSeconds
        self.maxPromptCharacters = maxPromptCharacters
        self.maxHistoryMessages = maxHistoryMessages
        self.maxHistoryCharacters = maxHistoryCharacters
        self.systemPrompt = systemPrompt
        self.turnWaitSeconds = turnWaitSeconds
    }
}

extension AskSettings {
    /// The settings with the model allow-list resolved: by default, only the upstream's model.
    public func resolvingModels(for upstream: any ChatCompletions) -> AskSettings {
        var settings = self
        settings.models = models ?? [upstream.defaultModel]
        return settings
    }
}
