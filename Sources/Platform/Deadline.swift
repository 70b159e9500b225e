#if canImport(Glibc)
import Glibc
#endif

/// A point on the monotonic clock by which something must happen.
public struct Deadline: Sendable, Comparable {
    /// Seconds on `MonotonicClock`.
    public let seconds: Double

    public init(monotonicSeconds seconds: Double) {
        self.seconds = seconds
    }

    /// `seconds` from now; a negative count is a deadline already passed.
    public init(after seconds: Double) {
        self.seconds = MonotonicClock.now() + seconds
    }

    /// Whether the deadline is now or past.
    public var hasPassed: Bool { MonotonicClock.now() >= seconds }

    /// The seconds left until the deadline, 0 once it has passed.
    public var remainingSeconds: Double { max(0, seconds - MonotonicClock.now()) }

    /// The deadline as the pthread and semaphore waits on `CLOCK_MONOTONIC` take it.
    public var timespec: timespec {
        let whole = max(0, seconds).rounded(.down)
        let nanoseconds = min(999_999_999, Int((max(0, seconds) - whole) * 1_000_000_000))
        return Glibc.timespec(tv_sec: Int(whole), tv_nsec: nanoseconds)
    }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.seconds < rhs.seconds }
}
