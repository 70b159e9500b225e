import HTTP
import JSON
import Store
import Upstream

/// The body of a successful `POST /ask`: `{"response": {...}}`. The original README showed only
/// `message`; the other fields are additions.
enum AskResponse {
    static func body(conversationID: String, answer: ChatResponse) -> JSONValue {
        .object(["response": .object([
            "message": .string(answer.text),
            "conversation_id": .string(conversationID),
            "model": .string(answer.model),
            "finish_reason": .string(answer.finishReason),
            "usage": answer.usage.map(usage) ?? .null,
        ])])
    }

    private static func usage(_ usage: TokenUsage) -> JSONValue {
        .object([
            "prompt_tokens": .integer(usage.promptTokens),
            "completion_tokens": .integer(usage.completionTokens),
            "total_tokens": .integer(usage.totalTokens),
        ])
    }
}
