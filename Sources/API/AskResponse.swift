import FoundationEssentials
import Store

/// The body of a successful `POST /ask`: `{"response": {...}}`. The original README showed only
/// `message`; the other fields are additions.
struct AskResponse: Encodable {
    struct Answer: Encodable {
        var message: String
        var conversationID: String
        var model: String
        var finishReason: String
        var usage: Usage?

        enum CodingKeys: String, CodingKey {
            case message
            case conversationID = "conversation_id"
            case model
            case finishReason = "finish_reason"
            case usage
        }
    }

    struct Usage: Encodable {
        var promptTokens: Int
        var completionTokens: Int
        var totalTokens: Int

        init(_ usage: TokenUsage) {
            promptTokens = usage.promptTokens
            completionTokens = usage.completionTokens
            totalTokens = usage.totalTokens
        }

        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case totalTokens = "total_tokens"
        }
    }

    var response: Answer
}
