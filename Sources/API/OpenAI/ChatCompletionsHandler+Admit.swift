import FoundationEssentials
import HTTP
import Store

/// What admission grants a chat completion.
struct ChatAdmission: Sendable {
    /// The most tokens the answer may use (what a daily quota has left); nil: no cap.
    var maxTokens: Int?
    /// Headers every answer of the call carries, the stream's `200` included (the token's
    /// rate-limit state).
    var headers: HTTPHeaders = [:]
}

extension ChatCompletionsHandler {
    /// Admit: the one place where a chat completion is let in, before any wait. The model must
    /// be one askd serves (`ASKD_MODELS`, else the upstream's default): 404 `model_not_found`
    /// otherwise, as OpenAI answers for a model it does not have.
    ///
    /// Per-token limits plug in here, as in `/ask`'s admit stage: the token's own model list
    /// (403), its rates, parallel slots and daily quota (429), the quota's cap on the answer's
    /// length (`maxTokens`) and the rate-limit headers (`headers`). What admission takes,
    /// `settle` gives back.
    func admit(_ input: ChatCompletionsInput, token: TokenRecord) throws -> ChatAdmission {
        guard servedModels(for: token).contains(input.model) else { throw HTTPError.modelNotFound(input.model) }
        return ChatAdmission()
    }

    /// The models `token` may use: those askd serves. (A token's own list narrows it here.)
    func servedModels(for token: TokenRecord) -> [String] {
        settings.models ?? [upstream.defaultModel]
    }

    /// Settle: the call is over, answered, failed or left by its client. Its usage (nil when the
    /// model produced nothing billable) counts in `/usage`, as a turn's does; per-token limits
    /// count its tokens and free its parallel slot here. Runs on the `WorkQueue`, since the
    /// store may block and this is called from the upstream's thread.
    func settle(_ call: ChatCall, usage: TokenUsage?) {
        guard let usage else { return }
        let store = store
        let date = Date()
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
