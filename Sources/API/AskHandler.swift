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

    public init(
        store: any ConversationStore, verifier: any TokenVerifier, upstream: any ChatCompletions, settings: AskSettings,
        logger: Logger
    ) {
        self.store = store
        self.verifier = verifier
        self.upstream = upstream
        self.settings = settings
        self.logger = logger
    }

    public func handle(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        let input = try AskInput.parse(request, maxPromptCharacters: settings.maxPromptCharacters)
        let (conversationID, answer): (String, ChatResponse)
        do {
            if let existing = input.conversationID {
                conversationID = existing
                answer = try store.withTurnLock(conversationID: existing, timeout: settings.turnWaitSeconds) {
                    guard try store.conversation(id: existing, owner: token.id) != nil else { throw HTTPError.conversationNotFound }
                    let history = try store.messages(conversationID: existing)
                    return try ask(input.prompt, after: history, in: existing, owner: token.id, starts: false)
                }
            } else {
                conversationID = ConversationID.make()
                answer = try ask(input.prompt, after: [], in: conversationID, owner: token.id, starts: true)
            }
        } catch let error as UpstreamError {
            log(error, requestID: request.id)
            throw HTTPError(upstream: error)
        } catch let error as StoreError {
            throw HTTPError(store: error)
        }
        return .json(.ok, AskResponse.body(conversationID: conversationID, answer: answer).serialized)
    }

    /// The upstream's own words go to the log, never to the client.
    private func log(_ error: UpstreamError, requestID: String) {
        let metadata: Logger.Metadata = ["request_id": "\(requestID)"]
        switch error {
        case .rejectedCredentials(let detail):
            logger.critical("the upstream rejected askd's credentials: check OPENAI_API_KEY; \(detail)", metadata: metadata)
        case .rateLimited(let retryAfter):
            logger.warning("the upstream is rate-limiting askd (Retry-After: \(retryAfter ?? "none"))", metadata: metadata)
        case .timedOut(let detail), .failed(let detail):
            logger.error("the upstream failed: \(detail)", metadata: metadata)
        }
    }

    /// Asks the model and stores the turn once it answered.
    private func ask(_ prompt: String, after history: [StoredMessage], in conversationID: String, owner: String, starts: Bool) throws
        -> ChatResponse
    {
        let messages = ChatHistory.messages(system: settings.systemPrompt, history: history, prompt: prompt, settings: settings)
        let answer = try upstream.complete(ChatRequest(model: upstream.defaultModel, messages: messages))
        try store.commitTurn(Turn(
            conversationID: conversationID, owner: owner, startsConversation: starts, prompt: prompt, answer: answer.text,
            model: answer.model, usage: answer.usage, date: Date()
        ))
        return answer
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
        case .turnLockTimedOut: self.init(.serviceUnavailable, "the conversation is busy with another turn; try again", headers: ["Retry-After": "5"])
        case .duplicate, .unavailable: self.init(.serviceUnavailable, "store unavailable", headers: ["Retry-After": "5"])
        }
    }
}
