/// Which store `ASKD_DATABASE` selects, and how long a write waits for another's lock.
public enum DatabaseLocation: Sendable, Equatable {
    case sqlite(path: String, busyTimeoutMilliseconds: Int32 = DatabaseLocation.defaultBusyTimeoutMilliseconds)

    /// How long a write waits for the write lock of another connection before the store reports
    /// itself unavailable, unless `ASKD_SQLITE_BUSY_TIMEOUT_MS` says otherwise.
    public static let defaultBusyTimeoutMilliseconds: Int32 = 10_000

    /// `ASKD_DATABASE` as a path or `sqlite:` URL; unset, `$STATE_DIRECTORY/askd.sqlite` (set by
    /// systemd's `StateDirectory=`). `ASKD_SQLITE_BUSY_TIMEOUT_MS` sets the busy timeout.
    public init(environment: [String: String]) throws {
        let env = EnvironmentReader(environment)
        let busyTimeout = try env.value("ASKD_SQLITE_BUSY_TIMEOUT_MS", expecting: "milliseconds from 0 to 600000") {
            Int32($0).flatMap { (0...600_000).contains($0) ? $0 : nil }
        } ?? Self.defaultBusyTimeoutMilliseconds
        guard let value = env.string("ASKD_DATABASE") else {
            if let state = env.string("STATE_DIRECTORY") {
                // systemd may list several directories, separated by colons: the first is ours.
                let first = state.split(separator: ":").first.map(String.init) ?? state
                self = .sqlite(path: first + "/askd.sqlite", busyTimeoutMilliseconds: busyTimeout)
                return
            }
            throw ConfigurationError("ASKD_DATABASE is not set: give the SQLite file to use, such as ASKD_DATABASE=var/askd.sqlite")
        }
        let lowered = value.lowercased()
        if lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://") {
            throw ConfigurationError("ASKD_DATABASE: PostgreSQL is not supported yet; use a SQLite file path")
        }
        var path = value
        if lowered.hasPrefix("sqlite://") {
            path = String(value.dropFirst("sqlite://".count))
        } else if lowered.hasPrefix("sqlite:") {
            path = String(value.dropFirst("sqlite:".count))
        } else if let colon = value.firstIndex(of: ":"), value[..<colon].allSatisfy({ $0.isLetter }), value[colon...].hasPrefix("://") {
            throw ConfigurationError("ASKD_DATABASE=\(value): unknown kind of database \(value[..<colon])")
        }
        guard !path.isEmpty else { throw ConfigurationError("ASKD_DATABASE=\(value) names no file") }
        self = .sqlite(path: path, busyTimeoutMilliseconds: busyTimeout)
    }
}
