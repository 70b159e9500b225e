import Auth
import HTTP
import Store
import Upstream

/// The stages where a regeneration differs from an `/ask` turn; the others are the same.
extension TurnPipeline {
    /// Admit: the input, the conversation (the caller's, or 404), an answer to regenerate (or
    /// 409), then the token's limits, all before any wait.
    func admit(regenerating conversationID: String, _ request: Request, token: TokenRecord) throws -> (input: AskInput, admitted: AdmittedRequest) {
        var input = try RegenerateInput.parse(request, conversationID: conversationID, limits: settings)
        guard let conversation = try store.conversation(id: conversationID, owner: token.id) else { throw HTTPError.conversationNotFound }
        _ = try lastExchange(of: conversationID)
        let model = input.settings.model ?? conversation.settings.model ?? upstream.defaultModel
        let admitted = try admission.admit(token: token, model: model, maxTokens: input.maxTokens)
        input.maxTokens = admitted.maxTokens
        return (input, admitted)
    }

    /// Load history, under the lock: the model is asked the last prompt again, after the
    /// messages before it, and the answer will replace the last one.
    func regenerationTurn(_ turn: TurnContext, _ conversation: Conversation, lock: TurnLock) throws -> PreparedTurn {
        let (prompt, answer) = try lastExchange(of: lock.conversationID)
        let history = try store.messages(
            conversationID: lock.conversationID, newest: settings.maxHistoryMessages, before: prompt.sequence,
            maxBytes: ChatHistory.maxBytes(settings)
        )
        var input = turn.input
        input.prompt = prompt.content
        var prepared = PreparedTurn(
            conversationID: lock.conversationID, startsConversation: false,
            request: chatRequest(input, after: history, kept: conversation.settings), lock: lock
        )
        prepared.replacing = answer.sequence
        return prepared
    }

    /// Store: a regeneration replaces the last answer (`replaceLastAnswer`), any other turn is
    /// committed as the next two messages; both pass the outcome to `completion` without
    /// blocking the caller.
    func commit(_ turn: Turn, replacing sequence: Int?, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        guard let sequence else {
            store.commitTurn(turn, completion: completion)
            return
        }
        let regeneration = Regeneration(
            conversationID: turn.conversationID, owner: turn.owner, sequence: sequence, answer: turn.answer, model: turn.model,
            usage: turn.usage, date: turn.date, lock: turn.lock, admission: turn.admission
        )
        store.replaceLastAnswer(regeneration, completion: completion)
    }

    /// The conversation's last prompt and its answer.
    /// - Throws: 409 when the last message is not an answer to a prompt.
    private func lastExchange(of conversationID: String) throws -> (prompt: StoredMessage, answer: StoredMessage) {
        let last = try store.messages(conversationID: conversationID, newest: 2, before: nil)
        guard last.count == 2, last[0].role == .user, last[1].role == .assistant else { throw HTTPError.nothingToRegenerate }
        return (last[0], last[1])
    }
}

extension HTTPError {
    static let nothingToRegenerate = HTTPError(
        .conflict, "there is no answer to regenerate: the conversation's last message is not an answer to a prompt"
    )
}
