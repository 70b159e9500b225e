#if canImport(Glibc)
import Glibc
#endif

/// A value that threads share, changed only under a pthread mutex.
///
/// askd's stand-in for Swift's `Mutex`, with the same `withLock`. On Linux, `Mutex` is a
/// priority-inheritance futex: when it is contended, the kernel hands the lock to the waiter,
/// so no atomic in user space orders the two holders, and ThreadSanitizer reports every access
/// under it as a race. ThreadSanitizer intercepts pthread mutexes, so what it reports under this
/// lock is a race. A plain mutex is also cheaper under contention (see `ReadWriteLocked`).
public final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    public init(_ value: sending Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value to read or change, holding the lock.
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
