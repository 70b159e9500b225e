#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Platform
import Store

/// The embedded `ConversationStore`: one SQLite file in WAL mode, shared by every worker thread
/// and by every askd process on the host.
///
/// Threads borrow connections from a small pool (a SQLite connection serves one thread at a
/// time). Writes take the write lock at once (`BEGIN IMMEDIATE`) and wait for it up to the busy
/// timeout. The schema is migrated when the store opens.
/// Turn locks are leases in the `turn_locks` table, so they hold across processes; `TurnLeases`
/// renews them while their turns run, and a lease left by a crashed process expires after
/// `leaseSeconds`.
public final class SQLiteStore: ConversationStore, @unchecked Sendable {
    public let path: String
    let leaseSeconds: Double
    private let pool: ConnectionPool<SQLiteConnection>
    private let checkpointer: Checkpointer
    private let searchIndexer: SearchIndexer
    /// The connection of group commits; only the leader of a commit uses it.
    let turnWriter: SQLiteConnection
    let turnCommits = GroupCommit<Turn>()
    /// Turns committed without waiting; they go through `turnCommits` too.
    let backgroundCommits: BackgroundCommits
    let tokenGeneration: TokenGeneration
    let tokenCache = TokenCache()
    let leases: TurnLeases
    /// The parallel slots this process holds, as leases in `parallel_slots`.
    let slotLeases: SlotLeases
    /// Admissions of many threads, committed together.
    let admissions = GroupCommit<PendingAdmission>()

    /// Opens (creating if needed) and migrates the database at `path`.
    /// - Throws: `StoreError.unavailable` when the file cannot be opened or migrated.
    /// - Parameter maxConnections: how many connections the store's threads share; turns are
    ///   committed on one more, of their own.
    public init(path: String, leaseSeconds: Double = 30, busyTimeoutMilliseconds: Int32 = 10_000, maxConnections: Int = 8) throws {
        self.path = path
        self.leaseSeconds = leaseSeconds
        let writerLock = Lock()
        let checkpointer = Checkpointer(path: path, writerLock: writerLock)
        let searchIndexer = SearchIndexer {
            try SQLiteConnection(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds, writerLock: writerLock, checkpointer: checkpointer)
        }
        let open = {
            do {
                return try SQLiteConnection(
                    path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds, writerLock: writerLock, checkpointer: checkpointer,
                    searchIndexer: searchIndexer
                )
            } catch {
                throw StoreError.unavailable("\(error)")
            }
        }
        self.checkpointer = checkpointer
        self.searchIndexer = searchIndexer
        // A connection that comes back inside a transaction (a failed ROLLBACK) must not be lent again.
        let pool = ConnectionPool(capacity: max(1, maxConnections), isReusable: { !$0.inTransaction }, open: open)
        self.pool = pool
        // The renewals' thread must not hold the store: it captures the pool only.
        leases = TurnLeases(
            leaseSeconds: leaseSeconds,
            renew: { locks, seconds in try pool.withConnection { try Self.renew(locks, for: seconds, on: $0) } },
            release: { lock in try pool.withConnection { try Self.release(lock, on: $0) } }
        )
        slotLeases = SlotLeases(
            leaseSeconds: leaseSeconds,
            renew: { holders, seconds in try pool.withConnection { try Self.renewSlots(holders, for: seconds, on: $0) } },
            release: { holder in try pool.withConnection { try Self.releaseSlot(holder, on: $0) } }
        )
        let writer = try open()
        turnWriter = writer
        // The thread must not hold the store: it captures the writer and the group commit only.
        let commits = turnCommits
        backgroundCommits = BackgroundCommits { turns in commits.submit(turns) { Self.commit($0, on: writer) } }
        // After the database file exists, whose mode and owner it takes.
        tokenGeneration = TokenGeneration(databasePath: path)
        try withConnection { try SQLiteMigrations.migrate($0) }
    }

    deinit {
        leases.stop()
        slotLeases.stop()
        backgroundCommits.stop()
        searchIndexer.stop()
        checkpointer.stop()
    }

    /// The schema version of the open database.
    public func schemaVersion() throws -> Int {
        try withConnection { try $0.query("PRAGMA user_version", []) { Int($0.integer(0) ?? 0) }.first ?? 0 }
    }

    public func checkAvailable() throws {
        try withConnection { db in _ = try db.query("SELECT COUNT(*) FROM tokens WHERE 0", []) { _ in true } }
    }

    /// Runs `body` with a connection from the pool.
    func withConnection<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try Self.mappingErrors { try pool.withConnection(body) }
    }

    /// Runs `body`, turning failures of the database itself into `StoreError.unavailable`.
    static func mappingErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw mapped(error)
        }
    }

    static func mapped(_ error: any Error) -> any Error {
        if let error = error as? SQLiteError, unavailableCodes.contains(error.code & 0xFF) {
            return StoreError.unavailable("\(error)")
        }
        return error
    }

    /// Failures of the database rather than of a request: busy, locked, read-only, I/O error,
    /// disk full, cannot open.
    private static let unavailableCodes: Set<Int32> = [5, 6, 8, 10, 13, 14]
}
