#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import HTTP
import Platform

/// Deferred responses whose wait is over, queued for the finisher threads.
///
/// A plain mutex and condition variable: each completion posted wakes exactly one waiting
/// finisher. (Waking workers through their shared epoll set instead cost a cascade of wake-ups
/// per completion: a level-triggered event is passed from waiter to waiter until one reads it.)
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

    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let posted = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var items: [Completion] = []
    private var head = 0

    init() {
        pthread_mutex_init(lock, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(posted, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(posted)
        pthread_mutex_destroy(lock)
        posted.deallocate()
        lock.deallocate()
    }

    /// Queues `completion` and wakes one waiting finisher. Any thread.
    func post(_ completion: Completion) {
        pthread_mutex_lock(lock)
        items.append(completion)
        pthread_mutex_unlock(lock)
        pthread_cond_signal(posted)
    }

    /// The next completion, waiting up to `milliseconds` for one.
    func take(waitingUpTo milliseconds: Int) -> Completion? {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        if head == items.count {
            var deadline = MonotonicClock.deadline(after: Double(milliseconds) / 1_000)
            while head == items.count {
                if pthread_cond_timedwait(posted, lock, &deadline) == ETIMEDOUT { break }
            }
        }
        guard head < items.count else { return nil }
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
}
