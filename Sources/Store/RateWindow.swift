#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// The rules every store applies to a token's counters, so that they decide alike.
///
/// The per-minute limits count in buckets of whole seconds: a request admitted, or a model token
/// counted, in second `s` counts while the current second is at most `s + 60`. So no 60 seconds
/// ever hold more than the limit, and a refused client waits at most one second more than a
/// window of exact instants would make it. A request is admitted when, before it, the day's
/// tokens are below `tokensPerDay`, the slots in use below `maxParallel`, the window's requests
/// below `requestsPerMinute` and its tokens below `tokensPerMinute`: tokens are counted once the
/// model reported them, so the overshoot is at most what the requests in flight use.
public enum RateWindow {
    /// How many seconds before the current one still count (the current one counts too).
    public static let span: Int64 = 60

    /// The second (since 1970) that `date` falls in.
    public static func second(of date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970).rounded(.down))
    }

    /// The oldest second whose bucket still counts at `date`.
    public static func firstCounted(at date: Date) -> Int64 {
        second(of: date) - span
    }

    /// The limit that refuses a request, given the counters before it; nil admits it. The daily
    /// quota comes first, as the one that waiting a minute does not cure.
    public static func refusal(_ limits: TokenLimits, _ readings: LimitReadings) -> LimitRefusal? {
        if let perDay = limits.tokensPerDay, readings.tokensToday >= perDay { return .tokensPerDay(perDay) }
        if let parallel = limits.maxParallel, readings.slotsInUse >= parallel { return .maxParallel(parallel) }
        if let rpm = limits.requestsPerMinute, readings.requestsInWindow >= rpm { return .requestsPerMinute(rpm) }
        if let tpm = limits.tokensPerMinute, readings.tokensInWindow >= tpm { return .tokensPerMinute(tpm) }
        return nil
    }

    /// A store grants a process several requests at once (`AllowanceBroker`) only when each set
    /// limit has this many times as much room left, so that what one process holds unused is at
    /// most this fraction of the room there was; near a limit every request is counted alone.
    public static let reservationShare = 16
    /// The model tokens a request is assumed to use when the room of a token limit is turned
    /// into requests for a reservation.
    public static let tokensPerRequestEstimate = 4096

    /// How many of `wanted` requests to admit at once, given the counters before them: 0 when a
    /// limit refuses, else between 1 and `wanted`, no more than a `reservationShare`-th of the
    /// room each limit has left.
    public static func grant(_ limits: TokenLimits, _ readings: LimitReadings, wanted: Int) -> Int {
        guard refusal(limits, readings) == nil else { return 0 }
        var size = max(1, wanted)
        func cap(_ room: Int) { size = min(size, max(1, room / reservationShare)) }
        if let rpm = limits.requestsPerMinute { cap(rpm - readings.requestsInWindow) }
        if let parallel = limits.maxParallel { cap(parallel - readings.slotsInUse) }
        if let tpm = limits.tokensPerMinute { cap((tpm - readings.tokensInWindow) / tokensPerRequestEstimate) }
        if let perDay = limits.tokensPerDay { cap((perDay - readings.tokensToday) / tokensPerRequestEstimate) }
        return size
    }

    /// The counters as a client sees them at `date`, with this request counted when `admitted`.
    public static func state(_ limits: TokenLimits, _ readings: LimitReadings, admitted: Bool, at date: Date) -> LimitState {
        var buckets = readings.buckets
        if admitted && limits.isWindowed {
            let now = second(of: date)
            if let last = buckets.last, last.second == now {
                buckets[buckets.count - 1].requests += 1
            } else {
                buckets.append(WindowBucket(second: now, requests: 1, tokens: 0))
            }
        }
        let counted = LimitReadings(at: readings.at, buckets: buckets, slotsInUse: readings.slotsInUse + (admitted && limits.maxParallel != nil ? 1 : 0), tokensToday: readings.tokensToday)
        let refusal = admitted ? nil : refusal(limits, readings)
        var retryAfter: Double?
        switch refusal {
        case .tokensPerDay?: retryAfter = secondsToMidnight(after: date)
        case .maxParallel?: retryAfter = 1
        case .requestsPerMinute(let limit)?: retryAfter = untilBelow(limit, buckets, \.requests, at: date)
        case .tokensPerMinute(let limit)?: retryAfter = untilBelow(limit, buckets, \.tokens, at: date)
        case nil: break
        }
        return LimitState(
            limits: limits, requestsInWindow: counted.requestsInWindow, tokensInWindow: counted.tokensInWindow,
            slotsInUse: counted.slotsInUse, tokensToday: counted.tokensToday,
            requestsReset: untilBelow(counted.requestsInWindow, buckets, \.requests, at: date),
            tokensReset: untilBelow(counted.tokensInWindow, buckets, \.tokens, at: date),
            refusal: refusal, retryAfter: retryAfter
        )
    }

    /// Seconds from `date` until the buckets' `field` totals less than `limit` (0 if it does now):
    /// when enough of the oldest buckets have left the window.
    static func untilBelow(_ limit: Int, _ buckets: [WindowBucket], _ field: KeyPath<WindowBucket, Int>, at date: Date) -> Double {
        var total = buckets.reduce(0) { $0 + $1[keyPath: field] }
        guard total >= limit else { return 0 }
        for bucket in buckets {
            total -= bucket[keyPath: field]
            if total < limit {
                return max(0, Double(bucket.second + span + 1) - date.timeIntervalSince1970)
            }
        }
        return 0
    }

    /// Seconds from `date` to the next midnight UTC.
    public static func secondsToMidnight(after date: Date) -> Double {
        let seconds = date.timeIntervalSince1970
        return (seconds / 86_400).rounded(.down) * 86_400 + 86_400 - seconds
    }
}

/// Why a limit refused a request, with the limit.
public enum LimitRefusal: Sendable, Equatable {
    case tokensPerDay(Int)
    case maxParallel(Int)
    case requestsPerMinute(Int)
    case tokensPerMinute(Int)
}

/// A token's limits and what is used of them, as headers and `GET /usage` show it.
public struct LimitState: Sendable, Equatable {
    public var limits: TokenLimits
    public var requestsInWindow: Int
    public var tokensInWindow: Int
    public var slotsInUse: Int
    public var tokensToday: Int
    /// Seconds until the window holds fewer requests than now (0 when it holds none): when
    /// the oldest counted request leaves it.
    public var requestsReset: Double
    /// Seconds until the window holds fewer tokens than now, likewise.
    public var tokensReset: Double
    /// The limit that refused the request, if one did.
    public var refusal: LimitRefusal?
    /// For a refusal: seconds until a request may be admitted again.
    public var retryAfter: Double?

    public init(
        limits: TokenLimits, requestsInWindow: Int = 0, tokensInWindow: Int = 0, slotsInUse: Int = 0, tokensToday: Int = 0,
        requestsReset: Double = 0, tokensReset: Double = 0, refusal: LimitRefusal? = nil, retryAfter: Double? = nil
    ) {
        self.limits = limits
        self.requestsInWindow = requestsInWindow
        self.tokensInWindow = tokensInWindow
        self.slotsInUse = slotsInUse
        self.tokensToday = tokensToday
        self.requestsReset = requestsReset
        self.tokensReset = tokensReset
        self.refusal = refusal
        self.retryAfter = retryAfter
    }

    public var remainingRequests: Int? { limits.requestsPerMinute.map { max(0, $0 - requestsInWindow) } }
    public var remainingTokens: Int? { limits.tokensPerMinute.map { max(0, $0 - tokensInWindow) } }
    public var remainingTokensToday: Int? { limits.tokensPerDay.map { max(0, $0 - tokensToday) } }
    public var remainingParallel: Int? { limits.maxParallel.map { max(0, $0 - slotsInUse) } }
}
