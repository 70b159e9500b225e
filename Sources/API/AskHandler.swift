import Auth
import FoundationEssentials
import HTTP
import Logging
import Store
import Upstream

/// `POST /ask`: one turn of a conversation.
///
/// The caller's token is checked, the input validated, and the conversation (if one is named)
/// must be the caller's. The model gets the system prompt, the trimmed history and the prompt.
/// The turn is stored in one transaction only after the model answered: a failed answer leaves
/// nothing behind, not even a new conversation. Turns on one conversation are serialised by the
/// store's turn lock, across processes, so each sees every turn before it.
public struct AskHandler: Sendable {
    let store: any ConversationStore
    let verifier: any TokenVerifier
    let upstream: any ChatCompletions
    let settings: AskSettings
    let logger: Logger
    private let waiters: TurnWaiters

    public init(
        store: any ConversationStore, verifier: any TokenVerifier, upstream: any ChatCompletions, settings: AskSettings,
        logger: Logger
    ) {
        self.store = store
        self.verifier = verifier
        self.upstream = upstream
        self.settings = settings
        self.logger = logger
        waiters = TurnWaiters(limit: settings.maxTurnWaiters)
    }

    public func handle(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        let input = try AskInput.parse(request, maxPromptCharacters: settings.maxPromptCharacters, limits: limits)
        if input.stream { return streamed(input, owner: token.id, requestID: request.id) }
        if upstream.answersInBackground { return try inBackground(input, owner: token.id, requestID: request.id) }
        let (conversationID, answer) = try mappingErrors(requestID: request.id) {
            try turn(input, owner: token.id, requestID: request.id) { try upstream.complete($0) }
        }
        return .json(.ok, AskResponse.body(conversationID: conversationID, answer: answer).serialized)
    }

    /// The plain answer of a provider that answers in the background (`OpenAIClient`): this
    /// worker prepares the turn, taking the conversation's turn lock when it continues one, and
    /// returns a deferred response, so that no thread waits on the model. The turn is stored
    /// by the store's own thread when it commits in the background, or else by whichever thread
    /// finishes the response. The thread that finishes the response gives the lock back.
    private func inBackground(_ input: AskInput, owner: String, requestID: String) throws -> Response {
        let prepared = try mappingErrors(requestID: requestID) { try prepare(input, owner: owner) }
        return Response(status: .ok, body: .deferred(DeferredResponse { resume in
            upstream.begin(prepared.request) { result in
                // A store that commits in the background takes the turn from here, and many
                // answers then share a transaction; the response is finished once it is stored.
                if store.commitsInBackground, case .success(let answer) = result {
                    store.commitTurn(storedTurn(prepared, of: input, owner: owner, answer: answer)) { committed in
                        resume {
                            defer { release(prepared) }
                            if case .failure(let error as StoreError) = committed {
                                countUnstored(answer, after: error, owner: owner, requestID: requestID)
                            }
                            try mappingErrors(requestID: requestID) { try committed.get() }
                            return .json(.ok, AskResponse.body(conversationID: prepared.conversationID, answer: answer).serialized)
                        }
                    }
                    return
                }
                resume {
                    defer { release(prepared) }
                    let answer = try mappingErrors(requestID: requestID) { () throws -> ChatResponse in
                        let answer = try result.get()
                        try commit(prepared, of: input, owner: owner, answer: answer, requestID: requestID)
                        return answer
                    }
                    return .json(.ok, AskResponse.body(conversationID: prepared.conversationID, answer: answer).serialized)
                }
            }
        }))
    }

    /// The answer as Server-Sent Events (see `EventStream`). The turn runs inside the stream:
    /// an error before the first piece of text still gets its HTTP status and JSON body; after
    /// it, an `error` event. A client that leaves cuts the upstream transfer, and the turn is
    /// not stored.
    private func streamed(_ input: AskInput, owner: String, requestID: String) -> Response {
        let headers: HTTPHeaders = ["Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"]
        return Response(status: .ok, headers: headers, body: .stream { writer in
            let events = EventStream(writer: writer, keepAliveSeconds: settings.streamKeepAliveSeconds)
            let conversationID: String
            let answer: ChatResponse
            do {
                (conversationID, answer) = try mappingErrors(requestID: requestID) {
                    try turn(input, owner: owner, requestID: requestID) { try upstream.stream($0, to: events) }
                }
            } catch let error as ClientDisconnected {
                if let partial = events.abandonedAnswer { countUnstored(partial, owner: owner, requestID: requestID) }
                logger.info("the client left during a streamed answer; the upstream transfer was cut and nothing stored",
                            metadata: ["request_id": "\(requestID)"])
                throw error
            } catch let error as HTTPError where events.started {
                // Application logs the detail of an error that becomes a response; this one is an event.
                if let detail = error.logDetail { logger.error("\(detail)", metadata: ["request_id": "\(requestID)"]) }
                // The stream gave the answer up (askd is stopping): the model was paid for it.
                if let partial = events.abandonedAnswer { countUnstored(partial, owner: owner, requestID: requestID) }
                try events.send(event: "error", data: Self.errorEvent(error))
                return
            } catch where events.started {
                logger.error("unexpected error during a streamed answer",
                             metadata: ["request_id": "\(requestID)", "error": "\(String(reflecting: error))"])
                let failure = HTTPError(.internalServerError, "internal error", fields: ["request_id": requestID])
                try events.send(event: "error", data: Self.errorEvent(failure))
                return
            }
            do {
                try events.send(event: "done", data: AskResponse.body(conversationID: conversationID, answer: answer).serialized)
            } catch let error as ClientDisconnected {
                logger.info("the client left before the last event of a streamed answer; the turn is stored",
                            metadata: ["request_id": "\(requestID)"])
                throw error
            }
        })
    }

    /// `{"error": ..., "status": ...}` and the error's other fields: the status the answer would
    /// have had, had it not started already (and `retry_after`, its Retry-After, for a 429 or a 503).
    private static func errorEvent(_ error: HTTPError) -> [UInt8] {
        var fields: [String: JSONValue] = ["error": .string(error.message), "status": .integer(error.status.code)]
        for (key, value) in error.fields { fields[key] = .string(value) }
        if let retryAfter = error.headers["Retry-After"] { fields["retry_after"] = .string(retryAfter) }
        return JSONValue.object(fields).serialized
    }

    /// The settings with the model allow-list resolved: by default, only the upstream's model.
    private var limits: AskSettings {
        var limits = settings
        limits.models = settings.models ?? [upstream.defaultModel]
        return limits
    }

    /// One turn on the calling thread: prepared, asked with `ask`, stored once the model
    /// answered, and the turn lock given back.
    private func turn(
        _ input: AskInput, owner: String, requestID: String, ask: (ChatRequest) throws -> ChatResponse
    ) throws -> (String, ChatResponse) {
        let prepared = try prepare(input, owner: owner)
        defer { release(prepared) }
        let answer = try ask(prepared.request)
        try commit(prepared, of: input, owner: owner, answer: answer, requestID: requestID)
        return (prepared.conversationID, answer)
    }

    /// A turn ready to be asked: the request for the model, the conversation it goes to, and
    /// that conversation's turn lock when it continues one.
    private struct PreparedTurn: Sendable {
        let conversationID: String
        let startsConversation: Bool
        let request: ChatRequest
        let lock: TurnLock?
    }

    /// The model's request: the system prompt, the conversation's history (read under its turn
    /// lock, which the prepared turn then holds) and the prompt. The request's own model and
    /// system prompt come first, then the conversation's, then askd's defaults.
    private func prepare(_ input: AskInput, owner: String) throws -> PreparedTurn {
        guard let existing = input.conversationID else {
            let request = chatRequest(input, after: [], kept: ConversationSettings())
            return PreparedTurn(conversationID: ConversationID.make(), startsConversation: true, request: request, lock: nil)
        }
        // Ownership first: a conversation that is not the caller's is a 404 at once, and a
        // request can make no one wait on a lock it may not take.
        guard try store.conversation(id: existing, owner: owner) != nil else { throw HTTPError.conversationNotFound }
        let lock = try waiters.acquire(existing, on: store, timeout: settings.turnWaitSeconds)
        do {
            // Read again under the lock: the conversation may have been deleted or changed meanwhile.
            guard let conversation = try store.conversation(id: existing, owner: owner) else { throw HTTPError.conversationNotFound }
            // A model taken off ASKD_MODELS since the conversation kept it is refused as if named here.
            if input.settings.model == nil, let kept = conversation.settings.model {
                try ConversationFields.checkAllowed(kept, limits: limits, kept: true)
            }
            // Only what the trim may keep: the newest messages, however long the conversation.
            let history = try store.messages(
                conversationID: existing, newest: settings.maxHistoryMessages, before: nil, maxBytes: ChatHistory.maxBytes(settings)
            )
            let request = chatRequest(input, after: history, kept: conversation.settings)
            return PreparedTurn(conversationID: existing, startsConversation: false, request: request, lock: lock)
        } catch {
            store.releaseTurnLock(lock)
            throw error
        }
    }

    private func chatRequest(_ input: AskInput, after history: [StoredMessage], kept: ConversationSettings) -> ChatRequest {
        let system = input.settings.system ?? kept.system ?? settings.systemPrompt
        let messages = ChatHistory.messages(system: system, history: history, prompt: input.prompt, settings: settings)
        let model = input.settings.model ?? kept.model ?? upstream.defaultModel
        return ChatRequest(model: model, messages: messages, temperature: input.temperature, maxTokens: input.maxTokens)
    }

    /// Stores the prompt and the answer, in one transaction.
    private func commit(_ prepared: PreparedTurn, of input: AskInput, owner: String, answer: ChatResponse, requestID: String) throws {
        do {
            try store.commitTurn(storedTurn(prepared, of: input, owner: owner, answer: answer))
        } catch let error as StoreError {
            countUnstored(answer, after: error, owner: owner, requestID: requestID)
            throw error
        }
    }

    /// Counts the usage of an answer the model gave that is not stored as a turn: its
    /// conversation went away meanwhile, or its lock was taken over. (A store that is down is
    /// not asked again.)
    private func countUnstored(_ answer: ChatResponse, after error: StoreError, owner: String, requestID: String) {
        switch error {
        case .conversationNotFound, .turnLockLost: countUnstored(answer, owner: owner, requestID: requestID)
        case .unavailable, .duplicate, .turnLockTimedOut: break
        }
    }

    /// Counts the usage of an answer the model gave (or began) that is not stored as a turn.
    private func countUnstored(_ answer: ChatResponse, owner: String, requestID: String) {
        let usage = answer.usage ?? TokenUsage(promptTokens: 0, completionTokens: 0, totalTokens: 0)
        do {
            try store.recordUsage(owner: owner, usage: usage, date: Date())
        } catch {
            logger.error("the usage of an answer that was not stored could not be counted",
                         metadata: ["request_id": "\(requestID)", "error": "\(error)"])
        }
    }

    private func storedTurn(_ prepared: PreparedTurn, of input: AskInput, owner: String, answer: ChatResponse) -> Turn {
        Turn(
            conversationID: prepared.conversationID, owner: owner, startsConversation: prepared.startsConversation,
            prompt: input.prompt, answer: answer.text, model: answer.model, usage: answer.usage, date: Date(),
            settings: input.settings, lock: prepared.lock
        )
    }

    private func release(_ prepared: PreparedTurn) {
        if let lock = prepared.lock { store.releaseTurnLock(lock) }
    }

    /// Upstream and store failures as the client sees them; the upstream's own words go to the log.
    private func mappingErrors<T>(requestID: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as UpstreamError {
            log(error, requestID: requestID)
            throw HTTPError(upstream: error)
        } catch let error as StoreError {
            throw HTTPError(store: error)
        }
    }

    private func log(_ error: UpstreamError, requestID: String) {
        let metadata: Logger.Metadata = ["request_id": "\(requestID)"]
        switch error {
        case .rateLimited(let retryAfter):
            logger.warning("the upstream is rate-limiting askd (Retry-After: \(retryAfter ?? "none"))", metadata: metadata)
        case .rejectedCredentials(let detail):
            logger.critical("the upstream rejected askd's credentials: check OPENAI_API_KEY; \(detail)", metadata: metadata)
        case .timedOut(let detail), .failed(let detail):
            logger.error("the upstream failed: \(detail)", metadata: metadata)
        }
    }
}

extension HTTPError {
    static let conversationNotFound = HTTPError(.notFound, "conversation not found")

    /// The client's view of an upstream failure; the details go to the log by the caller.
    init(upstream error: UpstreamError) {
        switch error {
        case .rateLimited(let retryAfter):
            var headers = HTTPHeaders()
            if let retryAfter { headers.add(name: "Retry-After", value: retryAfter) }
            self.init(.tooManyRequests, "the model is rate-limited; try again later", headers: headers)
        case .rejectedCredentials:
            self.init(.badGateway, "upstream rejected askd's credentials")
        case .timedOut:
            self.init(.gatewayTimeout, "the model did not answer in time")
        case .failed:
            self.init(.badGateway, "the model could not answer")
        }
    }

    init(store error: StoreError) {
        switch error {
        case .conversationNotFound: self = .conversationNotFound
        case .turnLockTimedOut: self.init(.conflict, "conversation is busy", headers: ["Retry-After": "1"])
        case .turnLockLost(let id):
            self.init(
                .serviceUnavailable, "the turn could not be stored, as the store was unreachable meanwhile; nothing was stored, try again",
                headers: ["Retry-After": "5"], logDetail: "the turn lock on conversation \(id) was taken over before the turn was stored"
            )
        case .duplicate(let what):
            self.init(.serviceUnavailable, "store unavailable", headers: ["Retry-After": "5"], logDetail: "the store refused a duplicate: \(what)")
        case .unavailable(let why):
            self.init(.serviceUnavailable, "store unavailable", headers: ["Retry-After": "5"], logDetail: "the store is unavailable: \(why)")
        }
    }
}
