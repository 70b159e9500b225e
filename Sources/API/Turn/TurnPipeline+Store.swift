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
            settings: turn.input.settings, lock: prepared.lock
        )
        store.commitTurn(stored) { committed in
            let finish: @Sendable () -> Void = {
                release(prepared)
                switch committed {
                case .success:
                    turn.delivery.answer(conversationID: prepared.conversationID, answer)
                case .failure(let error):
                    if let error = error as? StoreError { countUnstored(answer, after: error, turn) }
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
    private func countUnstored(_ answer: ChatResponse, after error: StoreError, _ turn: TurnContext) {
        switch error {
        case .conversationNotFound, .turnLockLost: countUnstored(answer, turn)
        case .unavailable, .duplicate, .turnLockTimedOut: break
        }
    }

    /// Counts the usage of an answer the model gave (or began) that is not stored as a turn.
    func countUnstored(_ answer: ChatResponse, _ turn: TurnContext) {
        let usage = answer.usage ?? TokenUsage(promptTokens: 0, completionTokens: 0, totalTokens: 0)
        do {
            try store.recordUsage(owner: turn.owner, usage: usage, date: Date())
        } catch {
            turn.logger.error("the usage of an answer that was not stored could not be counted", metadata: ["error": "\(error)"])
        }
    }
}
