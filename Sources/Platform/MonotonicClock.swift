#if canImport(Glibc)
import Glibc
#endif

/// Seconds on the monotonic clock, for durations and deadlines: the one clock askd measures
/// time with, which no change of the wall clock moves.
public enum MonotonicClock {
    /// Seconds since an unspecified start (the boot, on Linux).
    public static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
    }

    /// Nanoseconds since the same start as `now()`, for a time kept in an atomic integer.
    public static func nanoseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    /// The monotonic time `seconds` from now, as `pthread_cond_timedwait` takes it (for a
    /// condition variable set to `CLOCK_MONOTONIC`).
    public static func deadline(after seconds: Double) -> timespec {
        Deadline(after: seconds).timespec
    }
}
