import Synchronization

/// What the workers and the stopping thread share.
final class ServerState: Sendable {
    /// Set once, when a stop begins; workers then take no new connection.
    let stopping = Atomic<Bool>(false)
    /// Workers whose thread has not yet returned.
    let liveWorkers = Atomic<Int>(0)
    /// Requests accepted and not yet finished.
    let inFlight = Atomic<Int>(0)
    /// Deferred responses started and not yet finished (counted in `inFlight` too).
    let deferred = Atomic<Int>(0)

    var isStopping: Bool { stopping.load(ordering: .acquiring) }
}
