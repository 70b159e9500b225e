import FoundationEssentials
import HTTP
import Store

/// What admission grants a chat completion.
struct ChatAdmission: Sendable {
    /// The request as the token's limits let it through (`TokenAdmission`): its ticket, the
    /// rate-limit headers every answer carries, the stream's `200` included, and `max_tokens`
    /// capped at what the day's quota has left.
    let admitted: AdmittedRequest

    var maxTokens: Int? { admitted.maxTokens }
    var headers: HTTPHeaders { admitted.headers }
}

extension ChatCompletionsHandler {
    /// Admit: the one place where a chat completion is let in, before any wait. The model must
    /// be one askd serves (`ASKD_MODELS`, else the upstream's default): 404 `model_not_found`
    /// otherwise, as OpenAI answers for a model it does not have.
    ///
    /// Then the token's limits, as in `/ask`'s admit stage (`TokenAdmission`): its own model
    /// list (403), its rates, parallel slots and daily quota (429, with the rate-limit
    /// headers), and the quota's cap on the answer's length. What admission takes, the
    /// admitted request's channel and `settle` give back.
    func admit(_ input: ChatCompletionsInput, token: TokenRecord) throws -> ChatAdmission {
        guard (settings.models ?? [upstream.defaultModel]).contains(input.model) else { throw HTTPError.modelNotFound(input.model) }
        do {
            return ChatAdmission(admitted: try admission.admit(token: token, model: input.model, maxTokens: input.maxTokens))
        } catch {
            throw admission.withHeaders(error, of: token)
        }
    }

    /// The models `token` may use: those askd serves, narrowed by the token's own list.
    func servedModels(for token: TokenRecord) -> [String] {
        let served = settings.models ?? [upstream.defaultModel]
        guard let allowed = admission.limits(of: token).models else { return served }
        return served.filter { allowed.contains($0) }
    }

    /// Settle, before the answer goes out: the call is over, answered, failed or left by its
    /// client. Its usage (nil when the model produced nothing billable) counts in `/usage`, as a
    /// turn's does, and in the token's limits, and its parallel slot is freed. The store's part
    /// runs on the `WorkQueue`, since this is called from the upstream's thread; the usage of a
    /// token without counted limits goes to the ledger, which writes it in batches.
    func settle(_ call: ChatCall, usage: TokenUsage?) {
        let admitted = call.admission.admitted
        if admitted.isCounted {
            if let usage { admitted.used(tokens: usage.totalTokens) }
            // A request from a reservation ends in memory; a ticket of its own, in the store.
            if admitted.ticket == nil { admitted.finish() } else { work.post { admitted.finish() } }
        }
        guard let usage else { return }
        let date = Date()
        if !admitted.isCounted, let ledger {
            ledger.add(owner: call.owner, usage: usage, date: date)
            return
        }
        let store = store
        work.post {
            do {
                try store.recordUsage(owner: call.owner, usage: usage, date: date)
            } catch {
                call.logger.error("the usage of a chat completion could not be counted", metadata: ["error": "\(error)"])
            }
        }
    }
}

extension HTTPError {
    /// A model askd does not serve, or that the caller may not see, as OpenAI words it.
    static func modelNotFound(_ model: String) -> HTTPError {
        HTTPError(.notFound, "The model `\(model)` does not exist or you do not have access to it.", fields: ["code": "model_not_found"])
    }
}
