import FoundationEssentials
import HTTP
import Store
import Upstream

extension TurnPipeline {
    /// Store, deliver, release: the prompt and the answer in one transaction, then the answer
    /// to the client and the lock back. A lone turn is committed at once; under load the store
    /// may commit many in one transaction, without delaying any of them.
    func store(_ turn: TurnContext, _ prepared: PreparedTurn, answer: ChatResponse) {
        let stored = Turn(
            conversationID: prepared.conversationID, owner: turn.owner, startsConversation: prepared.startsConversation,
            prompt: turn.input.prompt, answer: answer.text, model: answer.model, usage: answer.usage, date: Date(),
            settings: turn.input.settings, lock: prepared.lock, admission: turn.admitted.ticket
        )
        commit(stored, replacing: prepared.replacing) { committed in
            let finish: @Sendable () -> Void = {
                release(prepared)
                switch committed {
                case .success:
                    turn.admitted.committed(tokens: answer.usage.map { $0.promptTokens + $0.completionTokens } ?? 0)
                    turn.delivery.answer(conversationID: prepared.conversationID, answer)
                case .failure(let error):
                    if let error = error as? StoreError { countUnstored(answer, after: error, prepared, turn) }
                    turn.delivery.fail(clientError(error, logger: turn.logger))
                }
            }
            // The commit's thread delivers a stored turn at once; anything that may wait on
            // the store (a release, the usage of an unstored answer) moves off it.
            if prepared.lock == nil, case .success = committed {
                finish()
            } else {
                work.post(finish)
            }
        }
    }

    /// Counts the usage of an answer the model gave that is not stored as a turn: its
    /// conversation went away meanwhile, or its lock was taken over. (A store that is down is
    /// not asked again.)
    private func countUnstored(_ answer: ChatResponse, after error: StoreError, _ prepared: PreparedTurn, _ turn: TurnContext) {
        switch error {
        case .conversationNotFound, .turnLockLost: countUnstored(answer, prepared, turn)
        case .unavailable, .duplicate, .turnLockTimedOut: break
        }
    }

    /// Counts the usage of an answer the model gave (or began) that is not stored as a turn: the
    /// usage it reported, or else a character count over 4 of the prompt sent and the text
    /// produced, in the day's usage and in the token's limits.
    func countUnstored(_ answer: ChatResponse, _ prepared: PreparedTurn, _ turn: TurnContext) {
        let usage = answer.usage ?? Self.estimatedUsage(of: prepared.request, answer: answer.text)
        turn.admitted.used(tokens: usage.promptTokens + usage.completionTokens)
        do {
            try store.recordUsage(owner: turn.owner, usage: usage, date: Date())
        } catch {
            turn.logger.error("the usage of an answer that was not stored could not be counted", metadata: ["error": "\(error)"])
        }
    }
}

extension TurnPipeline {
    /// Tokens as a character count over 4, rounded up, for an answer the model reported none for.
    static func estimatedUsage(of request: ChatRequest, answer: String) -> TokenUsage {
        let promptCharacters = request.messages.reduce(0) { $0 + $1.content.count }
        let prompt = (promptCharacters + 3) / 4
        let completion = (answer.count + 3) / 4
        return TokenUsage(promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion)
    }
}
