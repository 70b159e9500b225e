import Platform

/// The database connections of one store backend, shared by all threads: at most `capacity`
/// of them, opened on first need and lent to one thread at a time.
///
/// A connection costs memory (SQLite: about 100 KB of page cache, schema and statements) or a
/// server process (PostgreSQL); a few cores never run more statements at once than a small pool
/// holds, however many workers wait on the network. The most recently returned connection goes
/// out first, so the busy few stay warm. A connection that comes back unfit (`isReusable`) or
/// is found unfit when next lent (`isUsable`) is dropped, and the next caller opens a new one:
/// a backend recovers by itself once its database is back.
public final class ConnectionPool<Connection: AnyObject>: @unchecked Sendable {
    private let capacity: Int
    private let maxWaitSeconds: Int?
    private let open: () throws -> Connection
    private let isUsable: (Connection) -> Bool
    private let isReusable: (Connection) -> Bool
    private let mutex = Lock()
    private let returned = Condition()
    private var idle: [Connection] = []
    private var opened = 0

    /// - Parameters:
    ///   - maxWaitSeconds: how long a caller waits when every connection is lent out, to callers
    ///     that may be stuck on a database that stopped answering; nil waits as long as it takes.
    ///   - isUsable: checked before an idle connection is lent again.
    ///   - isReusable: checked when a connection comes back.
    public init(
        capacity: Int, maxWaitSeconds: Int? = nil, isUsable: @escaping (Connection) -> Bool = { _ in true },
        isReusable: @escaping (Connection) -> Bool = { _ in true }, open: @escaping () throws -> Connection
    ) {
        precondition(capacity > 0, "a pool needs room for a connection")
        self.capacity = capacity
        self.maxWaitSeconds = maxWaitSeconds
        self.open = open
        self.isUsable = isUsable
        self.isReusable = isReusable
    }

    /// Runs `body` with a connection of its own, waiting for one if all are lent out.
    /// `body` must not ask the pool for a second connection.
    /// - Throws: `StoreError.unavailable` when no connection came free in time, or what opening
    ///   one or `body` threw.
    public func withConnection<T>(_ body: (Connection) throws -> T) throws -> T {
        let connection = try checkOut()
        defer { checkIn(connection) }
        return try body(connection)
    }

    private func checkOut() throws -> Connection {
        while true {
            mutex.lock()
            let deadline = Deadline(after: Double(maxWaitSeconds ?? 0))
            while idle.isEmpty && opened == capacity {
                guard maxWaitSeconds != nil else {
                    returned.wait(mutex)
                    continue
                }
                if !returned.wait(mutex, until: deadline) && idle.isEmpty && opened == capacity {
                    mutex.unlock()
                    throw StoreError.unavailable("no database connection came free within \(maxWaitSeconds ?? 0) s")
                }
            }
            if let connection = idle.popLast() {
                mutex.unlock()
                if isUsable(connection) { return connection }
                drop()
                continue
            }
            opened += 1
            mutex.unlock()
            do {
                return try open()
            } catch {
                drop()
                throw error
            }
        }
    }

    private func checkIn(_ connection: Connection) {
        guard isReusable(connection) else { return drop() }
        mutex.lock()
        idle.append(connection)
        returned.signal()
        mutex.unlock()
    }

    /// Frees the place of a connection that is gone (closed when its last reference goes).
    private func drop() {
        mutex.lock()
        opened -= 1
        returned.signal()
        mutex.unlock()
    }
}
