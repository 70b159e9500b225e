import JSON
import Store

extension TokenUsage {
    /// The counts in an answer's or a chunk's `usage` object, when it holds believable ones.
    static func reported(in usage: JSONValue?) -> TokenUsage? {
        guard let prompt = usage?["prompt_tokens"]?.integer, let completion = usage?["completion_tokens"]?.integer else { return nil }
        return reported(prompt: prompt, completion: completion, total: usage?["total_tokens"]?.integer)
    }

    /// What a forwarded request is counted as when the upstream reported no usage: a token for
    /// every 4 bytes (rounded up) of its messages as sent, and for every 4 characters of the answer.
    static func estimated(for request: ForwardedRequest, answerCharacters: Int) -> TokenUsage {
        let sent = JSONMembers(request.body)?["messages"]?.count ?? request.body.count
        let prompt = (sent + 3) / 4
        let completion = (answerCharacters + 3) / 4
        return TokenUsage(promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion)
    }
}
