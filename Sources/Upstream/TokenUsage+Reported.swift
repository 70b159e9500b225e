import Store

extension TokenUsage {
    /// The most tokens one count may report: far beyond any model's context, and small enough
    /// that sums of many never overflow.
    static let maxReportedTokens = Int(Int32.max)

    /// The counts an upstream reported, or nil when they cannot be true: a negative count, or
    /// one beyond `maxReportedTokens`. Such counts are left out, never stored or added to a
    /// token's usage (the answer itself still counts).
    static func reported(prompt: Int, completion: Int, total: Int?) -> TokenUsage? {
        let counts = 0...maxReportedTokens
        guard counts.contains(prompt), counts.contains(completion) else { return nil }
        let total = total ?? prompt + completion
        guard counts.contains(total) else { return nil }
        return TokenUsage(promptTokens: prompt, completionTokens: completion, totalTokens: total)
    }
}

extension TokenUsage {
    /// What an answer cut off before the upstream reported its usage is counted as: a token
    /// for every 4 characters (rounded up) of what was sent and of what came back.
    static func estimated(for request: ChatRequest, answer: String) -> TokenUsage {
        let sent = request.messages.reduce(0) { $0 + $1.content.unicodeScalars.count }
        let prompt = (sent + 3) / 4
        let completion = (answer.unicodeScalars.count + 3) / 4
        return TokenUsage(promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion)
    }
}
