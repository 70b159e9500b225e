import FoundationEssentials
import HTTP
import Store
import Synchronization

/// A request that `TokenAdmission` let through, until it ends: it holds the request's ticket
/// (its parallel slot and its place in the window), the headers its answer carries, and what
/// the model used, and ends the ticket exactly once.
public final class AdmittedRequest: Sendable {
    private let store: any ConversationStore
    /// The store's ticket; nil for a token without counted limits.
    public let ticket: AdmissionTicket?
    /// The `x-ratelimit-*` headers of the answer.
    public let headers: HTTPHeaders
    /// The request's `max_tokens`, capped at what is left of the token's day.
    public let maxTokens: Int?
    private let finished = Atomic<Bool>(false)
    private let reachedModel = Atomic<Bool>(false)
    private let tokensUsed = Atomic<Int>(0)

    init(store: any ConversationStore, ticket: AdmissionTicket?, headers: HTTPHeaders, maxTokens: Int?) {
        self.store = store
        self.ticket = ticket
        self.headers = headers
        self.maxTokens = maxTokens
        if ticket == nil { finished.store(true, ordering: .relaxed) }
    }

    /// The model is being asked: from now on the request counts, even if the model fails.
    public func askingModel() {
        reachedModel.store(true, ordering: .relaxed)
    }

    /// Adds what the model used (prompt and completion tokens) to what `finish` counts.
    public func used(tokens: Int) {
        tokensUsed.add(tokens, ordering: .relaxed)
    }

    /// The ticket was ended by the store in the transaction that stored the turn carrying it.
    public func committed() {
        finished.store(true, ordering: .releasing)
    }

    /// Ends the ticket, once: frees the slot, counts the tokens used, and takes the request out
    /// of the window if it never reached the model. It may wait on the store briefly: not for a
    /// thread that others wait on.
    public func finish() {
        guard let ticket, !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let counted = reachedModel.load(ordering: .relaxed)
        store.finishAdmission(ticket, tokens: counted ? tokensUsed.load(ordering: .relaxed) : 0, counted: counted, at: Date())
    }

    /// `channel` with this request's headers on its answer (the head of a stream, a whole
    /// response, or an error), which finishes the request before the answer goes out.
    public func channel(_ channel: any ResponseChannel) -> any ResponseChannel {
        headers.count == 0 && ticket == nil ? channel : AdmittedChannel(channel, request: self)
    }
}
