#if canImport(Glibc)
import Glibc
#endif

/// Seconds on the monotonic clock, for durations that cross targets (request timings).
public enum MonotonicSeconds {
    @inline(__always)
    public static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
    }
}
