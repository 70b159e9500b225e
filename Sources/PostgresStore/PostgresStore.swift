#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Store
import Platform
import Synchronization

/// The shared `ConversationStore`: one PostgreSQL database, reached through the system libpq,
/// for any number of askd processes on any number of hosts.
///
/// Threads borrow connections from a bounded pool, opened on first need. Each operation is one
/// statement or one transaction, with every value passed as a parameter. A failure of the
/// database itself (cannot connect, connection lost, server shutting down, statement timeout)
/// throws `StoreError.unavailable` and drops the connection when it is no use any more, so the
/// store recovers by itself once the server is back. Turn locks are leases in the `turn_locks`
/// table, timed by the server's clock, so they hold across hosts; `TurnLeases` renews them while
/// their turns run, and a lease left by a crashed process expires after `leaseSeconds`. The schema is migrated when the store opens.
public final class PostgresStore: ConversationStore, @unchecked Sendable {
    let pool: ConnectionPool<PostgresConnection>
    let leaseMilliseconds: Int64
    let tokenCache = TokenCache()
    let notifications: Notifications
    let leases: TurnLeases
    /// The parallel slots this process holds, as leases in `parallel_slots`.
    let slotLeases: SlotLeases
    /// Set when the store opened without reaching the database to migrate it: the first
    /// operation that reaches it migrates first.
    let migrationPending = Atomic<Bool>(false)
    let migration = Locked(MigrationAttempts())
    /// The text search configuration that migrating makes the index's (`applySearchLanguage`).
    let searchLanguage: String


    /// Opens a store on the database at `url`, and migrates it unless `migrate` is false.
    /// - Parameters:
    ///   - url: `postgres://` or `postgresql://`, as libpq reads it (`sslmode` and the other
    ///     parameters pass through; `PGPASSWORD` and `~/.pgpass` work as usual).
    ///   - maxConnections: how many connections the store's threads share at most.
    ///   - statementTimeoutMilliseconds: how long a statement may run; a connection attempt
    ///     waits as long, unless the URL or `PGCONNECT_TIMEOUT` says otherwise.
    ///   - leaseSeconds: how long a turn lock outlives a process that died holding it (it is
    ///     renewed while its turn runs).
    ///   - migrateOnceReachable: when the database cannot be reached to migrate it now, open
    ///     anyway and migrate before the first operation that reaches it; until then every
    ///     operation is `StoreError.unavailable`. A server starts so while its database is down
    ///     (at boot, in a failover) and answers 503 instead of failing to start.
    ///   - searchLanguage: the text search configuration searches use (`ASKD_SEARCH_LANGUAGE`),
    ///     set when the store migrates; the database must have it.
    /// - Throws: `StoreError.unavailable` when the database cannot be reached, `PostgresError`
    ///   when `url` is not a PostgreSQL URL or the migration fails, `SearchLanguageError` when
    ///   the database has no configuration named `searchLanguage`.
    public init(
        url: String, maxConnections: Int = 16, statementTimeoutMilliseconds: Int = 10_000, migrate: Bool = true,
        leaseSeconds: Double = 30, migrateOnceReachable: Bool = false, searchLanguage: String = "simple"
    ) throws {
        self.searchLanguage = searchLanguage
        let settings = try ConnectionSettings(url: url, statementTimeoutMilliseconds: statementTimeoutMilliseconds)
        // A caller waits for a connection at most about as long as a statement may run.
        let maxWait = max(1, statementTimeoutMilliseconds / 1000 + 5)
        let pool = ConnectionPool(
            capacity: max(1, maxConnections), maxWaitSeconds: maxWait, isUsable: \.isStillOpen, isReusable: \.isReusable
        ) { try PostgresConnection(settings: settings) }
        self.pool = pool
        leaseMilliseconds = Int64(leaseSeconds * 1000)
        // The renewals' thread must not hold the store: it captures the pool only.
        leases = TurnLeases(
            leaseSeconds: leaseSeconds,
            renew: { locks, seconds in try pool.withConnection { try Self.renew(locks, for: seconds, on: $0) } },
            release: { lock in try pool.withConnection { try Self.release(lock, on: $0) } }
        )
        let leases = leases
        notifications = Notifications(settings: settings) { conversationID in leases.lookNow(conversationID) }
        slotLeases = SlotLeases(
            leaseSeconds: leaseSeconds,
            renew: { holders, seconds in try pool.withConnection { try Self.renewSlots(holders, for: seconds, on: $0) } },
            release: { holder in try pool.withConnection { try Self.releaseSlot(holder, on: $0) } }
        )
        guard migrate else { return }
        do {
            try self.migrate()
        } catch StoreError.unavailable where migrateOnceReachable {
            migrationPending.store(true, ordering: .releasing)
        }
    }

    /// Whether the store opened without reaching the database and has not migrated it yet.
    public var migrationIsPending: Bool { migrationPending.load(ordering: .acquiring) }

    deinit {
        leases.stop()
        notifications.stop()
        slotLeases.stop()
    }

    public func checkAvailable() throws {
        try withConnection { db in _ = try db.query("SELECT 1", []) { _ in true } }
    }

    /// Runs `body`, turning a unique violation (SQLSTATE 23505) into `StoreError.duplicate`.
    static func unique<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PostgresError where error.sqlState == "23505" {
            throw StoreError.duplicate(what)
        }
    }


    /// Runs `body` with a connection from the pool, turning failures of the database itself
    /// into `StoreError.unavailable`.
    func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        do {
            if migrationPending.load(ordering: .acquiring) { try migrateIfPending() }
            return try pool.withConnection(body)
        } catch let error as PostgresError where error.isUnavailability {
            throw StoreError.unavailable("\(error)")
        }
    }
}
