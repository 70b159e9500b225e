#if canImport(Glibc)
import Glibc
#endif

extension DetachedThread {
    /// Starts a thread that works in rounds for ever: `waitForWork` returns once there is
    /// something to do, and `interval` seconds later `round` does it, so that what arrives
    /// meanwhile is done in the same round. A round that fails (returns false) is followed by a
    /// pause of at least a second, so that a store that is down is not asked every interval.
    public static func startRounds(
        name: String, interval: Double, waitForWork: @escaping @Sendable () -> Void, round: @escaping @Sendable () -> Bool
    ) throws(SystemError) {
        try start(name: name) {
            while true {
                waitForWork()
                sleep(seconds: interval)
                if !round() { sleep(seconds: max(interval, 1)) }
            }
        }
    }

    /// Sleeps the calling thread for `seconds`, signals or not.
    public static func sleep(seconds: Double) {
        var time = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1_000_000_000))
        var left = timespec()
        while nanosleep(&time, &left) != 0 { time = left }
    }
}
