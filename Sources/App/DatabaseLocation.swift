import PostgresStore

/// Which store `ASKD_DATABASE` selects, with its settings.
public enum DatabaseLocation: Sendable, Equatable {
    /// A SQLite file, and how long a write waits for another connection's lock.
    case sqlite(path: String, busyTimeoutMilliseconds: Int32 = DatabaseLocation.defaultBusyTimeoutMilliseconds)
    /// A PostgreSQL database shared by every host.
    case postgres(PostgresSettings)

    /// How long a write waits for the write lock of another connection before the store reports
    /// itself unavailable, unless `ASKD_SQLITE_BUSY_TIMEOUT_MS` says otherwise.
    public static let defaultBusyTimeoutMilliseconds: Int32 = 10_000

    public struct PostgresSettings: Sendable, Equatable {
        /// `postgres://` or `postgresql://`, as libpq reads it; it may hold a password.
        public var url: String
        /// The most connections one askd process opens (`ASKD_PG_MAX_CONNECTIONS`).
        public var maxConnections: Int
        /// The longest a statement may run (`ASKD_PG_STATEMENT_TIMEOUT_MS`).
        public var statementTimeoutMilliseconds: Int

        /// The text search configuration of the search index (`ASKD_SEARCH_LANGUAGE`).
        public var searchLanguage: String

        public init(url: String, maxConnections: Int = 16, statementTimeoutMilliseconds: Int = 10_000, searchLanguage: String = "simple") {
            self.searchLanguage = searchLanguage
            self.url = url
            self.maxConnections = maxConnections
            self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        }
    }

    /// `ASKD_DATABASE`: a path or `sqlite:` URL, or a `postgres://` or `postgresql://` URL; unset,
    /// `$STATE_DIRECTORY/askd.sqlite` (set by systemd's `StateDirectory=`).
    public init(environment: [String: String]) throws {
        let env = EnvironmentReader(environment)
        guard let value = env.string("ASKD_DATABASE") else {
            if let state = env.string("STATE_DIRECTORY") {
                // systemd may list several directories, separated by colons: the first is ours.
                let first = state.split(separator: ":").first.map(String.init) ?? state
                self = try Self(first + "/askd.sqlite", environment: environment)
                return
            }
            throw ConfigurationError("ASKD_DATABASE is not set: give the SQLite file to use, such as ASKD_DATABASE=var/askd.sqlite")
        }
        self = try Self(value, environment: environment, naming: "ASKD_DATABASE")
    }

    /// The store `value` names, with the other settings from `environment`.
    /// - Parameter naming: what to call `value` in error messages.
    public init(_ value: String, environment: [String: String], naming: String = "the database") throws {
        let env = EnvironmentReader(environment)
        let lowered = value.lowercased()
        if lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://") {
            let maxConnections = try env.value("ASKD_PG_MAX_CONNECTIONS", expecting: "a number from 1 to 1000") {
                Int($0).flatMap { (1...1_000).contains($0) ? $0 : nil }
            } ?? 16
            let timeout = try env.value("ASKD_PG_STATEMENT_TIMEOUT_MS", expecting: "milliseconds from 100 to 600000") {
                Int($0).flatMap { (100...600_000).contains($0) ? $0 : nil }
            } ?? 10_000
            // Whether the database has it is checked when the store opens.
            let language = try env.value("ASKD_SEARCH_LANGUAGE", expecting: "a text search configuration's name, such as simple or english") {
                Self.isConfigurationName($0) ? $0 : nil
            } ?? "simple"
            self = .postgres(PostgresSettings(
                url: value, maxConnections: maxConnections, statementTimeoutMilliseconds: timeout, searchLanguage: language
            ))
            return
        }
        let busyTimeout = try env.value("ASKD_SQLITE_BUSY_TIMEOUT_MS", expecting: "milliseconds from 0 to 600000") {
            Int32($0).flatMap { (0...600_000).contains($0) ? $0 : nil }
        } ?? Self.defaultBusyTimeoutMilliseconds
        var path = value
        if lowered.hasPrefix("sqlite://") {
            path = String(value.dropFirst("sqlite://".count))
        } else if lowered.hasPrefix("sqlite:") {
            path = String(value.dropFirst("sqlite:".count))
        } else if let colon = value.firstIndex(of: ":"), value[..<colon].allSatisfy({ $0.isLetter }), value[colon...].hasPrefix("://") {
            throw ConfigurationError("\(naming)=\(PostgresStore.redacted(value)): unknown kind of database \(value[..<colon])")
        }
        guard !path.isEmpty else { throw ConfigurationError("\(naming)=\(value) names no file") }
        self = .sqlite(path: path, busyTimeoutMilliseconds: busyTimeout)
    }

    /// What to call this store in messages and logs: never with a password.
    public var description: String {
        switch self {
        case .sqlite(let path, _): path
        case .postgres(let settings): PostgresStore.redacted(settings.url)
        }
    }

    /// A PostgreSQL name, optionally schema-qualified: letters, digits and underscores, not
    /// starting with a digit, at most 63 bytes each.
    static func isConfigurationName(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return (1...2).contains(parts.count) && parts.allSatisfy { part in
            (1...63).contains(part.utf8.count) && part.utf8.first.map { !(48...57).contains($0) } == true
                && part.utf8.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 95 }
        }
    }
}
