import FoundationEssentials
import Store
import Text

/// What one `data:` event of a streamed Chat Completions response says, for the first choice.
public struct ChatCompletionChunk: Sendable, Equatable {
    public var model: String?
    /// The next piece of the answer; nil when the chunk carries none (the role-only first chunk).
    public var delta: String?
    public var finishReason: String?
    /// Sent in a last chunk with no choices when the request asked for `include_usage`.
    public var usage: TokenUsage?

    public init(model: String? = nil, delta: String? = nil, finishReason: String? = nil, usage: TokenUsage? = nil) {
        self.model = model
        self.delta = delta
        self.finishReason = finishReason
        self.usage = usage
    }

    /// Whether an event's data is the `[DONE]` sentinel that ends the stream.
    public static func isDone(_ data: String) -> Bool {
        data == "[DONE]" || data.trimmingWhitespace() == "[DONE]"
    }

    /// Decodes one event's data; nil for the `[DONE]` sentinel.
    ///
    /// - Parameters:
    ///   - data: The `data` of one `ServerSentEvent`.
    ///   - decoder: A decoder to reuse, since making one per chunk costs time.
    /// - Throws: `UpstreamError.failed` when the data is not a chunk, or is an error object (its
    ///   detail then carries the upstream's message).
    public static func decode(_ data: String, with decoder: JSONDecoder = JSONDecoder()) throws(UpstreamError) -> ChatCompletionChunk? {
        if isDone(data) { return nil }
        let wire: WireChunk
        do {
            wire = try decoder.decode(WireChunk.self, from: Data(data.utf8))
        } catch {
            throw .failed(detail: "unreadable stream chunk: \(data.prefix(200))")
        }
        if let error = wire.error {
            throw .failed(detail: "the upstream sent an error: \(error.message)")
        }
        let choice = wire.choices?.first { ($0.index ?? 0) == 0 }
        let usage = wire.usage.flatMap { usage in
            usage.promptTokens.flatMap { prompt in
                usage.completionTokens.flatMap { completion in
                    TokenUsage.reported(prompt: prompt, completion: completion, total: usage.totalTokens)
                }
            }
        }
        return ChatCompletionChunk(model: wire.model, delta: choice?.delta?.content, finishReason: choice?.finishReason, usage: usage)
    }

    private struct WireChunk: Decodable {
        struct Choice: Decodable {
            struct Delta: Decodable { let content: String? }
            let index: Int?
            let delta: Delta?
            let finishReason: String?
            enum CodingKeys: String, CodingKey {
                case index, delta
                case finishReason = "finish_reason"
            }
        }
        struct Usage: Decodable {
            let promptTokens: Int?
            let completionTokens: Int?
            let totalTokens: Int?
            enum CodingKeys: String, CodingKey {
                case promptTokens = "prompt_tokens"
                case completionTokens = "completion_tokens"
                case totalTokens = "total_tokens"
            }
        }
        /// `{"error": {"message": ...}}`, or `{"error": "..."}` as some compatible servers send.
        struct WireError: Decodable {
            let message: String
            enum CodingKeys: String, CodingKey { case message }
            init(from decoder: any Decoder) throws {
                if let text = try? decoder.singleValueContainer().decode(String.self) {
                    message = text
                } else {
                    message = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .message) ?? "(no message)"
                }
            }
        }
        let model: String?
        let choices: [Choice]?
        let usage: Usage?
        let error: WireError?
    }
}
