#if canImport(Glibc)
import Glibc
#endif

/// A pthread condition variable on the monotonic clock, waited on with a `Lock` held.
public final class Condition: @unchecked Sendable {
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    /// Releases `lock`, sleeps until signalled (or woken spuriously), and takes `lock` again.
    public func wait(_ lock: Lock) {
        pthread_cond_wait(condition, lock.mutex)
    }

    /// As `wait(_:)`, but no later than `deadline`.
    /// - Returns: false when the deadline passed, true when woken before it.
    @discardableResult
    public func wait(_ lock: Lock, until deadline: Deadline) -> Bool {
        var time = deadline.timespec
        return pthread_cond_timedwait(condition, lock.mutex, &time) != ETIMEDOUT
    }

    /// Wakes one waiter.
    public func signal() {
        pthread_cond_signal(condition)
    }

    /// Wakes every waiter.
    public func broadcast() {
        pthread_cond_broadcast(condition)
    }
}
