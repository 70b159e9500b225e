import FoundationEssentials
import HTTP
import Store
import Synchronization

/// A request that `TokenAdmission` let through, until it ends: it holds the request's ticket
/// (its parallel slot and its place in the window), the headers its answer carries, and what
/// the model used, and ends the ticket exactly once.
public final class AdmittedRequest: Sendable {
    private let store: any ConversationStore
    /// The store's ticket; nil for a token without counted limits, or for a request handed out
    /// from a reservation.
    public let ticket: AdmissionTicket?
    /// The reservation the request was handed out from, if it was (`AllowanceBroker`).
    let reservation: (broker: AllowanceBroker, reservation: AllowanceBroker.Reservation)?
    /// The `x-ratelimit-*` headers of the answer.
    public let headers: HTTPHeaders
    /// The request's `max_tokens`, capped at what is left of the token's day.
    public let maxTokens: Int?
    private let finished = Atomic<Bool>(false)
    private let reachedModel = Atomic<Bool>(false)
    private let tokensUsed = Atomic<Int>(0)

    init(
        store: any ConversationStore, ticket: AdmissionTicket? = nil,
        reservation: (broker: AllowanceBroker, reservation: AllowanceBroker.Reservation)? = nil, headers: HTTPHeaders = [:], maxTokens: Int?
    ) {
        self.store = store
        self.ticket = ticket
        self.reservation = reservation
        self.headers = headers
        self.maxTokens = maxTokens
        if !isCounted { finished.store(true, ordering: .relaxed) }
    }

    /// Whether the request counts in its token's limits, and must be ended.
    public var isCounted: Bool { ticket != nil || reservation != nil }

    /// The model is being asked: from now on the request counts, even if the model fails.
    public func askingModel() {
        reachedModel.store(true, ordering: .relaxed)
    }

    /// Adds what the model used (prompt and completion tokens) to what `finish` counts.
    public func used(tokens: Int) {
        tokensUsed.add(tokens, ordering: .relaxed)
    }

    /// The turn carrying the request is stored: the store ended the ticket in the same
    /// transaction; a request from a reservation ends here, with the `tokens` the model used.
    public func committed(tokens: Int) {
        guard ticket == nil else { return finished.store(true, ordering: .releasing) }
        used(tokens: tokens)
        finish()
    }

    /// Ends the ticket, once: frees the slot, counts the tokens used, and takes the request out
    /// of the window if it never reached the model. It may wait on the store briefly: not for a
    /// thread that others wait on.
    public func finish() {
        guard isCounted, !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let counted = reachedModel.load(ordering: .relaxed)
        let tokens = counted ? tokensUsed.load(ordering: .relaxed) : 0
        if let ticket {
            store.finishAdmission(ticket, tokens: tokens, counted: counted, at: Date())
        } else if let reservation {
            reservation.broker.finish(reservation.reservation, tokens: tokens, counted: counted)
        }
    }

    /// `channel` with this request's headers on its answer (the head of a stream, a whole
    /// response, or an error), which finishes the request before the answer goes out.
    public func channel(_ channel: any ResponseChannel) -> any ResponseChannel {
        headers.count == 0 && !isCounted ? channel : AdmittedChannel(channel, request: self)
    }
}
