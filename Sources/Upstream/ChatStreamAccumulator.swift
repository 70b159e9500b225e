import Store

/// Folds the chunks of a streamed answer into the whole `ChatResponse`.
public struct ChatStreamAccumulator: Sendable, Equatable {
    /// The deltas so far, concatenated.
    public private(set) var text = ""
    /// The first model a chunk named.
    public private(set) var model: String?
    /// The last finish reason a chunk gave; nil while none has (or if the stream was cut short).
    public private(set) var finishReason: String?
    public private(set) var usage: TokenUsage?

    public init() {}

    /// Adds one chunk and returns its text to forward, or nil when it has none.
    public mutating func add(_ chunk: ChatCompletionChunk) -> String? {
        if model == nil, let name = chunk.model, !name.isEmpty { model = name }
        if let reason = chunk.finishReason { finishReason = reason }
        if let usage = chunk.usage { self.usage = usage }
        guard let delta = chunk.delta, !delta.isEmpty else { return nil }
        text += delta
        return delta
    }

    /// The whole answer. Without a finish reason it says "stop", as `OpenAIClient` does for a
    /// non-streamed answer without one; a caller that must tell a cut-off stream apart checks
    /// `finishReason` (or whether `[DONE]` arrived) itself.
    public func response(defaultModel: String) -> ChatResponse {
        ChatResponse(text: text, model: model ?? defaultModel, finishReason: finishReason ?? "stop", usage: usage)
    }
}
