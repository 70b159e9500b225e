import PostgresStore
import SQLiteStore
import Store

/// Opens the store that `ASKD_DATABASE` selects.
public enum StoreFactory {
    /// - Parameters:
    ///   - turnLeaseSeconds: how long a turn lock outlives a process that died holding it; it
    ///     is renewed while its turn runs.
    ///   - migrate: whether to bring a PostgreSQL schema up to date first (SQLite always is).
    ///   - waitForDatabase: a PostgreSQL database that cannot be reached now is migrated when
    ///     it can be, and the store opens meanwhile (see `PostgresStore`): for a server.
    ///   - naming: where the location came from, for the error message.
    public static func open(
        _ location: DatabaseLocation, turnLeaseSeconds: Double = 30, migrate: Bool = true, waitForDatabase: Bool = false,
        naming: String = "ASKD_DATABASE"
    ) throws -> any ConversationStore {
        do {
            switch location {
            case .sqlite(let path, let busyTimeoutMilliseconds):
                return try SQLiteStore(path: path, leaseSeconds: turnLeaseSeconds, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
            case .postgres(let settings):
                return try PostgresStore(
                    url: settings.url, maxConnections: settings.maxConnections,
                    statementTimeoutMilliseconds: settings.statementTimeoutMilliseconds, migrate: migrate, leaseSeconds: turnLeaseSeconds,
                    migrateOnceReachable: waitForDatabase, searchLanguage: settings.searchLanguage
                )
            }
        } catch {
            throw ConfigurationError("\(naming): cannot open \(location.description): \(error)")
        }
    }

    /// Whether `store` opened without reaching its database (see `waitForDatabase`).
    public static func waitsForDatabase(_ store: any ConversationStore) -> Bool {
        (store as? PostgresStore)?.migrationIsPending == true
    }
}
