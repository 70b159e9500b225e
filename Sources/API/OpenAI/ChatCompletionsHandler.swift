import Auth
import HTTP
import JSON
import Logging
import Platform
import Store
import Upstream

/// `POST /v1/chat/completions`: OpenAI's Chat Completions, stateless, for any OpenAI SDK or
/// tool with an askd token as its API key.
///
/// The stages of `/ask` that apply, in the same order: authorize (the token), admit (the body
/// read, the model checked, and the token's limits: `admit`), ask (the body goes to the upstream
/// as the client wrote it, see `ChatCompletionsInput.forwarded`), deliver (the answer as the
/// upstream wrote it: one `chat.completion`, or its chunks through a `ChunkRelay`), and settle
/// (the usage counted in `/usage` and the token's limits, its slot freed). Nothing is stored as a conversation. The handler answers
/// `.later`, and no thread waits for the model.
public struct ChatCompletionsHandler: Sendable {
    let store: any ConversationStore
    let verifier: any TokenVerifier
    let upstream: any ChatCompletions
    let settings: AskSettings
    let logger: Logger
    let work: WorkQueue
    let admission: TokenAdmission
    /// Where the usage of a token without counted limits goes; nil writes each call's at once.
    let ledger: UsageLedger?

    public init(
        store: any ConversationStore, verifier: any TokenVerifier, upstream: any ChatCompletions, settings: AskSettings,
        logger: Logger, work: WorkQueue = .shared, ledger: UsageLedger? = nil, allowances: AllowanceBroker? = nil
    ) {
        self.store = store
        self.verifier = verifier
        self.upstream = upstream
        let settings = settings.resolvingModels(for: upstream)
        self.settings = settings
        self.logger = logger
        self.work = work
        self.ledger = ledger
        admission = TokenAdmission(store: store, defaults: settings.defaultLimits, maxTokens: settings.maxTokens, broker: allowances)
    }

    public func handle(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        let input = try ChatCompletionsInput.parse(request)
        let admission = try admit(input, token: token)
        let forwarded = input.forwarded(cappingTokensAt: admission.maxTokens)
        let handler = self
        return Response(body: .later { channel in
            var logger = handler.logger
            logger[metadataKey: "request_id"] = "\(channel.requestID)"
            let channel = admission.admitted.channel(channel)
            admission.admitted.askingModel()
            let call = ChatCall(input: input, forwarded: forwarded, admission: admission, owner: token.id, channel: channel, logger: logger)
            if input.stream { handler.stream(call) } else { handler.answer(call) }
        })
    }

    /// A plain answer: the upstream's `chat.completion`, with the head every answer has.
    private func answer(_ call: ChatCall) {
        upstream.forward(call.forwarded, streamingTo: nil) { result in
            switch result {
            case .success(let answer):
                let head = CompletionHead(of: answer.fields, object: "chat.completion", requestID: call.channel.requestID, model: call.input.model)
                settle(call, usage: answer.usage)
                call.channel.respond(.json(.ok, head.applied(to: answer.body, fields: answer.fields), headers: call.admission.headers))
            case .failure(let error):
                settle(call, usage: nil)
                call.channel.fail(clientError(error, logger: call.logger))
            }
        }
    }

    /// A stream: each chunk as it comes, then `[DONE]`; an error after the first chunk as a
    /// last event. A client that leaves cuts the upstream, and what the model produced counts.
    private func stream(_ call: ChatCall) {
        let relay = ChunkRelay(
            channel: call.channel, includeUsage: call.input.includeUsage, model: call.input.model, headers: call.admission.headers,
            keepAliveSeconds: settings.streamKeepAliveSeconds
        )
        upstream.forward(call.forwarded, streamingTo: relay) { result in
            switch result {
            case .success(let answer):
                settle(call, usage: answer.usage)
                relay.finish()
            case .failure(let error as ClientDisconnected):
                call.logger.info("the client left during a streamed chat completion; the upstream transfer was cut")
                settle(call, usage: relay.abandonedUsage)
                call.channel.fail(error)
            case .failure(let error):
                settle(call, usage: nil)
                let failure = clientError(error, logger: call.logger)
                if call.channel.started, let failure = failure as? HTTPError {
                    if let detail = failure.logDetail { call.logger.error("\(detail)") }
                    relay.fail(failure)
                } else if call.channel.started {
                    call.logger.error("unexpected error during a streamed chat completion", metadata: ["error": "\(String(reflecting: failure))"])
                    relay.fail(.opaque(requestID: call.channel.requestID))
                } else {
                    call.channel.fail(failure)
                }
            }
        }
    }
}

/// What the stages of one chat completion share.
struct ChatCall: Sendable {
    let input: ChatCompletionsInput
    let forwarded: ForwardedRequest
    let admission: ChatAdmission
    let owner: String
    let channel: any ResponseChannel
    /// The handler's logger with this request's id.
    let logger: Logger
}
