import Store

/// The model behind askd: an OpenAI-compatible Chat Completions endpoint, or the echo provider.
///
/// Contract: `complete` either returns the whole answer or throws an `UpstreamError`; it never
/// returns a partial answer. It is called from any worker thread, for one request at a time
/// per thread, and blocks that thread until the answer or the timeout.
public protocol ChatCompletions: Sendable {
    /// The model used when a request names none.
    var defaultModel: String { get }

    func complete(_ request: ChatRequest) throws -> ChatResponse
}

/// One message sent to the model.
public struct ChatMessage: Sendable, Equatable, Codable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// What askd asks the model.
public struct ChatRequest: Sendable, Equatable {
    public var model: String
    public var messages: [ChatMessage]

    public init(model: String, messages: [ChatMessage]) {
        self.model = model
        self.messages = messages
    }
}

/// The model's whole answer.
public struct ChatResponse: Sendable, Equatable {
    public var text: String
    public var model: String
    public var finishReason: String
    public var usage: TokenUsage?

    public init(text: String, model: String, finishReason: String, usage: TokenUsage?) {
        self.text = text
        self.model = model
        self.finishReason = finishReason
        self.usage = usage
    }
}

/// Why the model gave no answer. Details are for the log; the client sees only the status.
public enum UpstreamError: Error, Sendable, Equatable {
    /// The upstream answered 429; `retryAfter` is its `Retry-After`, if it gave one.
    case rateLimited(retryAfter: String?)
    /// The upstream refused askd's own credentials (401 or 403).
    case rejectedCredentials(detail: String)
    /// No answer within the timeout.
    case timedOut(detail: String)
    /// Anything else: unreachable, 5xx, or an answer askd cannot read.
    case failed(detail: String)
}
