import Platform
import Synchronization

/// What the workers and the stopping thread share.
final class ServerState: Sendable {
    /// Set once, when a stop begins; workers then take no new connection.
    let stopping = Atomic<Bool>(false)
    /// Workers started so far (never more than `ServerOptions.threads`).
    let startedWorkers = Atomic<Int>(0)
    /// Set when a worker could not be started while serving, so that the failure is logged once.
    let workerStartFailed = Atomic<Bool>(false)
    /// Workers whose thread has not yet returned.
    let liveWorkers = Atomic<Int>(0)
    /// Workers serving a request now (not those waiting for work, nor deferred responses).
    let busyWorkers = Atomic<Int>(0)
    /// Every started worker's slot, which says since when it has been on its request.
    let workerSlots = Locked<[WorkerSlot]>([])
    /// Requests accepted since the start: the main thread tells activity from idleness by it.
    let requestsStarted = Atomic<Int>(0)
    /// Requests accepted and not yet finished.
    let inFlight = Atomic<Int>(0)
    /// Deferred responses started and not yet finished (counted in `inFlight` too).
    let deferred = Atomic<Int>(0)

    var isStopping: Bool { stopping.load(ordering: .acquiring) }
}

/// What one worker tells the main thread: since when (microseconds on the monotonic clock) it has
/// been serving its request, or 0 while it waits for one.
final class WorkerSlot: Sendable {
    let requestStarted = Atomic<Int>(0)
}
