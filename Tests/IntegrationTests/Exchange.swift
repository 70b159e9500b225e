/// One request of a load, and what its client saw.
struct Exchange: Sendable {
    enum Outcome: Sendable {
        /// A plain 200, or a stream's `done` event: an answer received whole.
        case answered(conversationID: String, text: String)
        /// An error status, or a stream's `error` event (with the status it carries).
        case failed(status: Int, body: String)
        /// No answer: the connection failed or closed, or a stream ended without `done`.
        case cut(String)
        /// An answer that does not parse, or a stream whose `done` differs from its deltas.
        case malformed(String)
    }

    let prompt: String
    let streamed: Bool
    /// The conversation the request continued; nil when it started one.
    let continued: String?
    let outcome: Outcome

    var answered: (conversationID: String, text: String)? {
        if case .answered(let id, let text) = outcome { return (id, text) }
        return nil
    }
}
