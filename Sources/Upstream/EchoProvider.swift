import Store

/// The `echo` provider: answers offline and deterministically, for development and tests only.
/// It says what it is in every answer, so that nobody mistakes it for a model.
public struct EchoProvider: ChatCompletions {
    public let defaultModel = "echo"

    public init() {}

    public func complete(_ request: ChatRequest) throws -> ChatResponse {
        let prompt = request.messages.last(where: { $0.role == "user" })?.content ?? ""
        let earlier = request.messages.filter { $0.role != "system" }.count - 1
        let text = "[echo provider] You said: \(prompt)" + (earlier > 0 ? " (after \(earlier) earlier messages)" : "")
        let promptTokens = request.messages.reduce(0) { $0 + Self.words($1.content) }
        let completionTokens = Self.words(text)
        return ChatResponse(
            text: text, model: request.model, finishReason: "stop",
            usage: TokenUsage(promptTokens: promptTokens, completionTokens: completionTokens, totalTokens: promptTokens + completionTokens)
        )
    }

    /// A stand-in for a tokenizer: whitespace-separated words.
    private static func words(_ text: String) -> Int {
        var count = 0
        var inWord = false
        for scalar in text.unicodeScalars {
            let space = scalar.properties.isWhitespace
            if !space && !inWord { count += 1 }
            inWord = !space
        }
        return count
    }
}
