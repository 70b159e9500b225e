import HTTP

extension TurnPipeline {
    /// Admit: reads the request's input and holds it to askd's limits (prompt length, the
    /// models allowed, `max_tokens`), and a conversation it names must be the caller's: a
    /// request that fails is answered now (400, 404), before any wait, and can make no one wait
    /// on a lock it may not take.
    func admit(_ request: Request, owner: String) throws -> AskInput {
        let input = try AskInput.parse(request, maxPromptCharacters: settings.maxPromptCharacters, limits: settings)
        if let existing = input.conversationID, try store.conversation(id: existing, owner: owner) == nil {
            throw HTTPError.conversationNotFound
        }
        return input
    }
}
