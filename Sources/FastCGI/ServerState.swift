#if canImport(Glibc)
import Glibc
#endif
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
    /// Workers serving a request now (not those waiting for work, nor responses written later).
    let busyWorkers = Atomic<Int>(0)
    /// Every started worker's slot, which says since when it has been on its request.
    let workerSlots = Locked<[WorkerSlot]>([])
    /// Requests accepted since the start: the main thread tells activity from idleness by it.
    let requestsStarted = Atomic<Int>(0)
    /// Requests accepted and not yet finished.
    let inFlight = Atomic<Int>(0)
    /// Responses handed to an `OutputChannel` and not yet finished (counted in `inFlight` too).
    let answeringLater = Atomic<Int>(0)
    /// Set when a stop's drain time runs out: streamed responses still going end themselves.
    let drainRanOut = Atomic<Bool>(false)

    var isStopping: Bool { stopping.load(ordering: .acquiring) }
}

/// What one worker tells the main thread: since when (microseconds on the monotonic clock) it has
/// been serving its request, or 0 while it waits for one; and the connection it is reading a
/// request from, since when.
final class WorkerSlot: Sendable {
    let requestStarted = Atomic<Int>(0)
    /// Held by the main thread while it cuts a connection, so that the worker cannot close the
    /// descriptor (and another connection reuse it) meanwhile.
    private let reading = Locked<(fd: Int32, since: Double)?>(nil)

    /// The worker begins reading a request from `fd`.
    func startReading(_ fd: Int32) {
        let now = MonotonicClock.now()
        reading.withLock { $0 = (fd, now) }
    }

    /// The worker has the whole request, or has given up on it.
    func doneReading() {
        reading.withLock { $0 = nil }
    }

    /// Shuts the connection down if its request has been arriving for longer than `seconds`:
    /// the worker's read then ends at once. Whether it did.
    func cutReading(after seconds: Double, now: Double) -> Bool {
        reading.withLock { reading in
            guard let current = reading, now - current.since > seconds else { return false }
            shutdown(current.fd, Int32(SHUT_RDWR))
            reading = nil
            return true
        }
    }
}
