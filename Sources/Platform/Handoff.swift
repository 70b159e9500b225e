#if canImport(Glibc)
import Glibc
#endif

/// One value handed from the thread that makes it to the one thread that waits for it: how a
/// tool or a test waits for a callback.
public final class Handoff<Value>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let ready = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var value: Value?

    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(ready, nil)
    }

    deinit {
        pthread_cond_destroy(ready)
        pthread_mutex_destroy(mutex)
        ready.deallocate()
        mutex.deallocate()
    }

    /// Hands `value` over; only the first call counts.
    public func put(_ value: Value) {
        pthread_mutex_lock(mutex)
        if self.value == nil { self.value = value }
        pthread_mutex_unlock(mutex)
        pthread_cond_broadcast(ready)
    }

    /// Waits for the value.
    public func take() -> Value {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while value == nil { pthread_cond_wait(ready, mutex) }
        return value!
    }
}
