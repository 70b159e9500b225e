#if canImport(Glibc)
import Glibc
#endif

/// A value read by many threads at once and seldom written, behind a pthread read-write lock.
///
/// For the state every request reads (the token rows in memory, the last-use marks): readers
/// never wait for one another. Swift's `Mutex` serialises them, and on Linux it is a
/// priority-inheritance futex: a holder preempted mid-section puts every other reader to sleep
/// in the kernel.
public final class ReadWriteLocked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)

    public init(_ value: Value) {
        self.value = value
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Runs `body` with the value, alongside other readers.
    public func read<T>(_ body: (Value) throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(value)
    }

    /// Runs `body` with the value to change, alone.
    public func write<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(&value)
    }
}
