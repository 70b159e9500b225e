import FoundationEssentials

/// A request's place in its token's counted limits, from its admission (`admit`) until it ends
/// (`finishAdmission`, or `commitTurn` of a turn that carries it).
public struct AdmissionTicket: Sendable, Hashable {
    /// The token whose limits count the request.
    public let tokenID: String
    /// The holder of the request's parallel slot, a lease in the store, when the token has a
    /// `maxParallel`.
    public let slot: String?
    /// The second (since 1970) in whose window bucket the request is counted, when the token has
    /// a per-minute limit.
    public let second: Int64?
    /// How many requests the ticket admitted: counted in `second`'s bucket and holding as many
    /// slots under `slot`'s lease. More than one only when asked for (`AllowanceBroker`).
    public let count: Int

    public init(tokenID: String, slot: String?, second: Int64?, count: Int = 1) {
        self.tokenID = tokenID
        self.slot = slot
        self.second = second
        self.count = count
    }
}

/// What a ticket of several requests gives back (`ConversationStore.settle`).
public struct Settlement: Sendable, Equatable {
    public let ticket: AdmissionTicket
    /// Requests that leave the window: never handed out, or never reached the model.
    public let returning: Int
    /// The slots its lease keeps; 0 ends the lease.
    public let slotsKept: Int
    /// Model tokens to count in the window.
    public let tokens: Int

    public init(_ ticket: AdmissionTicket, returning: Int, slotsKept: Int, tokens: Int) {
        self.ticket = ticket
        self.returning = returning
        self.slotsKept = slotsKept
        self.tokens = tokens
    }
}

/// What a store read of a token's counters, and, when it admitted the request, its ticket.
public struct Admission: Sendable, Equatable {
    /// The counters as they were before this request was counted.
    public var readings: LimitReadings
    /// The request's ticket; nil when a limit refused it (nothing was counted then).
    public var ticket: AdmissionTicket?

    public init(readings: LimitReadings, ticket: AdmissionTicket?) {
        self.readings = readings
        self.ticket = ticket
    }
}

/// A token's counters in the store at one moment.
public struct LimitReadings: Sendable, Equatable {
    /// The moment, by the clock the store counted with.
    public var at: Date
    /// The per-minute window's buckets (`RateWindow`) that still count, oldest first.
    public var buckets: [WindowBucket]
    /// Parallel slots held now (their leases have not run out).
    public var slotsInUse: Int
    /// Model tokens counted on the UTC day (prompt and completion).
    public var tokensToday: Int

    public init(at: Date, buckets: [WindowBucket] = [], slotsInUse: Int = 0, tokensToday: Int = 0) {
        self.at = at
        self.buckets = buckets
        self.slotsInUse = slotsInUse
        self.tokensToday = tokensToday
    }

    public var requestsInWindow: Int { buckets.reduce(0) { $0 + $1.requests } }
    public var tokensInWindow: Int { buckets.reduce(0) { $0 + $1.tokens } }
}

/// The requests admitted and the model tokens counted in one second of a token's window.
public struct WindowBucket: Sendable, Equatable {
    /// Seconds since 1970.
    public var second: Int64
    public var requests: Int
    public var tokens: Int

    public init(second: Int64, requests: Int, tokens: Int) {
        self.second = second
        self.requests = requests
        self.tokens = tokens
    }
}
