import Auth
import HTTP
import Store

extension TurnPipeline {
    /// Admit: reads the request's input and holds it to askd's limits (prompt length, the
    /// models allowed, `max_tokens`), a conversation it names must be the caller's, and the
    /// caller's token must allow the model and have room in its limits (`TokenAdmission`): a
    /// request that fails is answered now (400, 403, 404, 429), before any wait, and can make no
    /// one wait on a lock it may not take. Only an admitted request counts in the token's limits.
    func admit(_ request: Request, token: TokenRecord) throws -> (input: AskInput, admitted: AdmittedRequest) {
        var input = try AskInput.parse(request, maxPromptCharacters: settings.maxPromptCharacters, limits: settings)
        var kept: String?
        if let existing = input.conversationID {
            guard let conversation = try store.conversation(id: existing, owner: token.id) else { throw HTTPError.conversationNotFound }
            kept = conversation.settings.model
        }
        let admitted = try admission.admit(token: token, model: input.settings.model ?? kept ?? upstream.defaultModel, maxTokens: input.maxTokens)
        input.maxTokens = admitted.maxTokens
        return (input, admitted)
    }
}
