/// A failed libpq call, with the SQLSTATE and message captured where it failed (never a password).
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// The five-character SQLSTATE the server sent, or `nil` when libpq itself failed (cannot
    /// connect, connection lost).
    public let sqlState: String?
    public let message: String
    public let context: String
    /// Whether libpq found the connection closed after the failure.
    let closedConnection: Bool

    init(sqlState: String?, message: String, context: String, closedConnection: Bool = false) {
        self.sqlState = sqlState
        self.message = message
        self.context = context
        self.closedConnection = closedConnection
    }

    public var description: String { "\(context): \(message) (\(sqlState.map { "SQLSTATE \($0)" } ?? "libpq"))" }

    /// Whether the connection that failed is no use any more: lost, refused, or closed by a
    /// server shutting down (class 08, 57P01-57P03), or talking to a server that can no longer
    /// write (25006: a standby after a failover), or whose prepared statements are gone (26000:
    /// a pooler in transaction mode, or DISCARD ALL); a new connection prepares them again.
    var endsConnection: Bool {
        guard !closedConnection, let sqlState else { return true }
        return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03", "25006", "26000"].contains(sqlState)
    }

    /// Whether this is a failure of the database rather than of the request: the connection
    /// ended, a statement timed out or was cancelled (57014), resources ran out (class 53) or
    /// the server had a system error (class 58).
    var isUnavailability: Bool {
        guard let sqlState else { return true }
        return endsConnection || sqlState == "57014" || sqlState.hasPrefix("53") || sqlState.hasPrefix("58")
    }
}
