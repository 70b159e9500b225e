import HTTP
import Logging
import Platform
import Store
import Upstream

/// One turn of a conversation, in stages, each in a file of its own:
///
///     authorize → admit (input, ownership, token limits) → own and lock → load history → ask the model → deliver → store → release
///
/// `AskHandler` authorizes on the worker, and `admit` reads the input there and checks that a
/// conversation it names is the caller's. `run` takes the rest: the turn lock (`+Lock`);
/// the history is read under the lock (`+History`); the model is asked (`+Ask`), its answer
/// delivered as JSON or as Server-Sent Events (`TurnDelivery`) once it is stored in one
/// transaction with the prompt (`+Store`), and the lock is given back. A failed answer stores
/// nothing, not even a new conversation.
///
/// No stage waits on a thread: the lock is waited for in `TurnLeases`' queue, the model on a
/// `TransferLoop`, the store on its commit thread, and a slow client in the `ResponseChannel`.
/// Each stage runs on whichever thread the one before it finished on, except that work which
/// may block on the store is moved off the threads that others wait on, to the `WorkQueue`.
struct TurnPipeline: Sendable {
    let store: any ConversationStore
    let upstream: any ChatCompletions
    let settings: AskSettings
    let logger: Logger
    let waiters: TurnWaiters
    let work: WorkQueue
    /// The token limits every request is admitted under.
    let admission: TokenAdmission

    init(
        store: any ConversationStore, upstream: any ChatCompletions, settings: AskSettings, logger: Logger, work: WorkQueue = .shared,
        allowances: AllowanceBroker? = nil
    ) {
        self.store = store
        self.upstream = upstream
        let settings = settings.resolvingModels(for: upstream)
        self.settings = settings
        self.logger = logger
        self.work = work
        admission = TokenAdmission(store: store, defaults: settings.defaultLimits, maxTokens: settings.maxTokens, broker: allowances)
        waiters = TurnWaiters(limit: settings.maxTurnWaiters)
    }

    /// Runs the turn from its lock to its answer on `channel`, which ends the admitted request.
    func run(_ input: AskInput, token: TokenRecord, admitted: AdmittedRequest, channel: any ResponseChannel) {
        var logger = logger
        logger[metadataKey: "request_id"] = "\(channel.requestID)"
        let delivery = TurnDelivery(input: input, channel: channel, settings: settings, logger: logger)
        let turn = TurnContext(
            input: input, owner: token.id, limits: admission.limits(of: token), admitted: admitted, logger: logger, delivery: delivery
        )
        lock(turn) { locked in
            do {
                let prepared = try prepare(turn, lock: try locked.get())
                ask(turn, prepared)
            } catch {
                turn.delivery.fail(clientError(error, logger: turn.logger))
            }
        }
    }
}

/// What the stages of one turn share.
struct TurnContext: Sendable {
    let input: AskInput
    let owner: String
    /// The limits of the caller's token.
    let limits: TokenLimits
    /// The request as its token's limits admitted it.
    let admitted: AdmittedRequest
    /// The pipeline's logger with this request's id.
    let logger: Logger
    let delivery: TurnDelivery
}

/// A turn ready to be asked: the request for the model, the conversation it goes to, and that
/// conversation's turn lock when it continues one.
struct PreparedTurn: Sendable {
    let conversationID: String
    let startsConversation: Bool
    let request: ChatRequest
    let lock: TurnLock?
    /// The sequence number of the answer a regeneration replaces; nil for a turn that adds two messages.
    var replacing: Int? = nil
}
