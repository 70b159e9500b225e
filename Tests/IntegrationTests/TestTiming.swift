import Foundation

/// How much slower this run is than one of the debug build: `ASKD_TEST_SLOWDOWN`, which
/// `make tsan` sets (ThreadSanitizer slows askd and the test runner alike), else 1.
///
/// A bound that says "at once" or "without waiting on that" scales with it; a latency bar (a
/// p99 in milliseconds) measures the sanitizer in such a run, not askd, and is not checked.
enum TestTiming {
    static let slowdown = max(1, ProcessInfo.processInfo.environment["ASKD_TEST_SLOWDOWN"].flatMap(Double.init) ?? 1)

    /// `seconds`, a bound that holds for the debug build, scaled for this run.
    static func bound(_ seconds: Double) -> Double { seconds * slowdown }

    /// Whether latency bars are checked: only in a run at the debug build's speed.
    static var checksLatencyBars: Bool { slowdown == 1 }
}
