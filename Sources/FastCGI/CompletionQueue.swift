#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import CLinux
import HTTP

/// Deferred responses whose wait is over, queued for a worker to finish and send.
///
/// An eventfd in semaphore mode counts them. It sits in the `ReadySet`; a worker that reads one
/// count from it takes exactly one completion off the queue, and a worker that loses the race
/// for a count reads nothing and waits again.
final class CompletionQueue: @unchecked Sendable {
    /// A request whose deferred response can now be finished.
    struct Completion {
        /// The request, still open, owned by whoever holds this completion.
        let request: UnsafeMutablePointer<FCGX_Request>
        let incoming: Request
        /// When the request was read, for its log line.
        let started: Double
        let finish: DeferredResponse.Finish
    }

    /// Readable while completions wait; one read takes one.
    let fd: Int32
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var items: [Completion] = []
    private var head = 0

    init() throws {
        fd = eventfd(0, Int32(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw SystemError("eventfd") }
        pthread_mutex_init(lock, nil)
    }

    deinit {
        close(fd)
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    /// Queues `completion` and wakes one waiting worker. Any thread.
    func post(_ completion: Completion) {
        pthread_mutex_lock(lock)
        items.append(completion)
        pthread_mutex_unlock(lock)
        var one: UInt64 = 1
        while write(fd, &one, 8) < 0 && errno == EINTR {}
    }

    /// The next completion, if one is waiting; never blocks.
    func take() -> Completion? {
        var count: UInt64 = 0
        guard read(fd, &count, 8) == 8 else { return nil }
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        // Every count read was posted after its item was queued: the queue is not empty.
        let completion = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1_024 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return completion
    }

    /// Waits up to `milliseconds` for a completion, outside the `ReadySet` (while stopping).
    func take(waitingUpTo milliseconds: Int32) -> Completion? {
        if let completion = take() { return completion }
        var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&ready, 1, milliseconds) == 1 else { return nil }
        return take()
    }
}
