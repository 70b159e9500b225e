import CoreMetrics
import Platform
import Store

/// `askd_store_operation_duration_seconds`, by operation and, for a failed one, `error_type`.
public final class StoreMetrics: Sendable {
    private struct Key: Hashable {
        let operation: String
        let error: String

        /// Lengths, not bytes (see `RequestMetrics`): equal hashes are told apart by ==.
        func hash(into hasher: inout Hasher) {
            hasher.combine(operation.utf8.count)
            hasher.combine(error.utf8.count)
        }
    }

    private let factory: any MetricsFactory
    /// The factory's handlers, recorded into directly (see `RequestMetrics`).
    private let recorders = HandleCache<Key, any RecorderHandler>()

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Runs `body`, the store operation `operation`, and records how long it took.
    @inline(__always)
    func timing<T>(_ operation: String, _ body: () throws -> T) rethrows -> T {
        let started = MonotonicClock.now()
        do {
            let result = try body()
            record(operation, error: "", seconds: MonotonicClock.now() - started)
            return result
        } catch {
            record(operation, error: Self.errorType(error), seconds: MonotonicClock.now() - started)
            throw error
        }
    }

    func record(_ operation: String, error: String, seconds: Double) {
        let key = Key(operation: operation, error: error)
        let recorder = recorders.value(for: key) {
            var labels = [("operation", operation)]
            if !error.isEmpty { labels.append(("error_type", error)) }
            return factory.makeRecorder(label: Instruments.storeOperationDuration.name, dimensions: labels, aggregate: true)
        }
        recorder.record(seconds)
    }

    static func errorType(_ error: any Error) -> String {
        switch error {
        case StoreError.unavailable: "unavailable"
        case StoreError.conversationNotFound: "conversation_not_found"
        case StoreError.duplicate: "duplicate"
        case StoreError.turnLockTimedOut: "turn_lock_timed_out"
        case StoreError.turnLockLost: "turn_lock_lost"
        default: "_OTHER"
        }
    }
}
