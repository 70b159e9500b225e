import FoundationEssentials
import Platform
import Store
import Synchronization

extension PostgresStore {
    /// The attempts at a migration the store opened without.
    struct MigrationAttempts {
        var running = false
        /// Until when callers are told the last failure instead of trying again.
        var quietUntil: ContinuousClock.Instant?
        var lastFailure = ""
    }

    /// Brings the schema to the latest version; several hosts may do it at once.
    /// - Throws: `StoreError.unavailable` when the database cannot be reached, `PostgresError`
    ///   when a migration fails.
    public func migrate() throws {
        try withConnection { db in
            try PostgresMigrations.migrate(db)
            try Self.applySearchLanguage(searchLanguage, on: db)
        }
    }

    /// The schema version of the database: 0 before the first migration.
    public func schemaVersion() throws -> Int {
        try withConnection { try PostgresMigrations.currentVersion($0) }
    }

    /// Runs the migration the store opened without. One thread tries at a time, and after a
    /// failure no thread tries again for a while (1 s after an outage, 10 s after another
    /// failure, such as a role that may not create tables): meanwhile callers get the store
    /// unavailable at once, with the reason, instead of queueing for connection attempts that
    /// each take up to the connect timeout.
    func migrateIfPending() throws {
        let mine = try migration.withLock { attempts throws(StoreError) -> Bool in
            guard migrationPending.load(ordering: .acquiring) else { return false }
            if attempts.running { throw .unavailable("the schema is being migrated") }
            if let quietUntil = attempts.quietUntil, ContinuousClock.now < quietUntil { throw .unavailable(attempts.lastFailure) }
            attempts.running = true
            return true
        }
        guard mine else { return }
        do {
            try pool.withConnection { db in
                try PostgresMigrations.migrate(db)
                try Self.applySearchLanguage(searchLanguage, on: db)
            }
            migrationPending.store(false, ordering: .releasing)
            migration.withLock { $0 = MigrationAttempts() }
        } catch {
            let outage = (error as? PostgresError)?.isUnavailability ?? false
            let failure = outage ? "\(error)" : "the schema migration failed: \(error)"
            migration.withLock { attempts in
                attempts = MigrationAttempts(quietUntil: .now + .seconds(outage ? 1 : 10), lastFailure: failure)
            }
            throw StoreError.unavailable(failure)
        }
    }
}
