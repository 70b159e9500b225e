#if canImport(Glibc)
import Glibc
#endif

/// The swift-metrics handlers of each label set, made once and then shared: read under a
/// read lock on every request, written only the first time a label set is seen.
///
/// Its own rather than `Store.ReadWriteLocked`: a generic from another module runs
/// unspecialised, and that cost about 1,000 instructions per lookup on the request path
/// (callgrind). At most `limit` entries are kept; beyond that `make` runs each time, so that a
/// peer that invents names costs time, not memory.
final class HandleCache<Key: Hashable & Sendable, Value>: @unchecked Sendable {
    private var entries: [Key: Value] = [:]
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
    private let limit: Int

    init(limit: Int = 1024) {
        self.limit = limit
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// The value kept for `key`, or the one `make` makes (kept if there is room).
    @inline(__always)
    func value(for key: Key, orMake make: () -> Value) -> Value {
        pthread_rwlock_rdlock(lock)
        let found = entries[key]
        pthread_rwlock_unlock(lock)
        if let found { return found }
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        if let found = entries[key] { return found }
        let made = make()
        if entries.count < limit { entries[key] = made }
        return made
    }
}
