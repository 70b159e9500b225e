#if canImport(Glibc)
import Glibc
#endif
import Store

/// The PostgreSQL connections of one store, shared by all threads: at most `capacity` of them,
/// opened on first need and lent to one thread at a time.
///
/// A connection that failed for good (lost, or closed by a server shutting down) is dropped
/// when it comes back, and an idle one found closed is dropped when it is next lent, so the
/// next caller opens a new one: the store recovers by itself once the server is back. The most
/// recently returned connection goes out first, so the busy few stay warm.
final class ConnectionPool: @unchecked Sendable {
    private let capacity: Int
    /// The longest a caller waits for a connection when all are lent out.
    private let maxWaitSeconds: Int
    private let open: () throws -> PostgresConnection
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let returned = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var idle: [PostgresConnection] = []
    private var opened = 0

    init(capacity: Int, maxWaitSeconds: Int = 30, open: @escaping () throws -> PostgresConnection) {
        precondition(capacity > 0, "a pool needs room for a connection")
        self.capacity = capacity
        self.maxWaitSeconds = maxWaitSeconds
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
    func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let connection = try checkOut()
        defer { checkIn(connection) }
        return try body(connection)
    }

    private func checkOut() throws -> PostgresConnection {
        while true {
            pthread_mutex_lock(mutex)
            var deadline = timespec()
            clock_gettime(CLOCK_REALTIME, &deadline)
            deadline.tv_sec += maxWaitSeconds
            while idle.isEmpty && opened == capacity {
                // Every connection is lent out, to callers that may be stuck on a database that
                // stopped answering: give up rather than wait with them for ever.
                guard pthread_cond_timedwait(returned, mutex, &deadline) != ETIMEDOUT || !(idle.isEmpty && opened == capacity) else {
                    pthread_mutex_unlock(mutex)
                    throw StoreError.unavailable("no database connection came free within \(maxWaitSeconds) s")
                }
            }
            if let connection = idle.popLast() {
                pthread_mutex_unlock(mutex)
                if connection.isStillOpen { return connection }
                drop()
                continue
            }
            opened += 1
            pthread_mutex_unlock(mutex)
            do {
                return try open()
            } catch {
                drop()
                throw error
            }
        }
    }

    private func checkIn(_ connection: PostgresConnection) {
        guard connection.isReusable else { return drop() }
        pthread_mutex_lock(mutex)
        idle.append(connection)
        pthread_cond_signal(returned)
        pthread_mutex_unlock(mutex)
    }

    /// Frees the place of a connection that is gone (closed when its last reference goes).
    private func drop() {
        pthread_mutex_lock(mutex)
        opened -= 1
        pthread_cond_signal(returned)
        pthread_mutex_unlock(mutex)
    }
}
