#if canImport(Glibc)
import Glibc
#endif

/// The SQLite connections of one store, shared by all threads: at most `capacity` of them,
/// opened on first need and lent to one thread at a time.
///
/// A connection costs about 100 KB (its page cache, schema and statements). One per worker
/// thread put hundreds of them in memory for a few busy ones; a few cores never run more
/// statements at once than this pool holds. The most recently returned connection goes out
/// first, so the busy few stay warm.
final class ConnectionPool: @unchecked Sendable {
    private let capacity: Int
    private let open: () throws -> SQLiteConnection
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let returned = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var idle: [SQLiteConnection] = []
    private var opened = 0

    init(capacity: Int, open: @escaping () throws -> SQLiteConnection) {
        precondition(capacity > 0, "a pool needs room for a connection")
        self.capacity = capacity
        self.open = open
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(returned, nil)
    }

    deinit {
        pthread_cond_destroy(returned)
        pthread_mutex_destroy(mutex)
        returned.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with a connection of its own, waiting for one if all are lent out.
    /// `body` must not ask the pool for a second connection.
    func withConnection<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let connection = try checkOut()
        defer { checkIn(connection) }
        return try body(connection)
    }

    private func checkOut() throws -> SQLiteConnection {
        pthread_mutex_lock(mutex)
        while idle.isEmpty && opened == capacity { pthread_cond_wait(returned, mutex) }
        if let connection = idle.popLast() {
            pthread_mutex_unlock(mutex)
            return connection
        }
        opened += 1
        pthread_mutex_unlock(mutex)
        do {
            return try open()
        } catch {
            pthread_mutex_lock(mutex)
            opened -= 1
            pthread_cond_signal(returned)
            pthread_mutex_unlock(mutex)
            throw error
        }
    }

    private func checkIn(_ connection: SQLiteConnection) {
        pthread_mutex_lock(mutex)
        idle.append(connection)
        pthread_cond_signal(returned)
        pthread_mutex_unlock(mutex)
    }
}
