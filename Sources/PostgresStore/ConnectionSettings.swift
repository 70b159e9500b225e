#if canImport(Glibc)
import Glibc
#endif
import CPostgres

/// What every connection of one store is opened with, and the secrets to keep out of messages.
///
/// The URL goes to libpq as it is, so its parameters (`sslmode`, `options`, ...), `PGPASSWORD`,
/// `~/.pgpass` and the other `PG*` variables work as libpq documents them. askd only adds
/// defaults the URL and the environment can override: `application_name=askd`, and a connect
/// timeout as long as the statement timeout (if there is one). It sets one thing itself: UTF-8
/// as the client encoding.
struct ConnectionSettings: Sendable {
    /// The URL with its password replaced, for messages.
    let redactedURL: String
    let statementTimeoutMilliseconds: Int
    private let keywords: [String]
    private let values: [String]
    private let secrets: [String]

    /// - Throws: `PostgresError` when `url` is not a `postgres://` or `postgresql://` URL libpq accepts.
    init(url: String, statementTimeoutMilliseconds: Int) throws {
        let (redactedURL, writtenSecrets) = PostgresStore.redaction(of: url)
        self.redactedURL = redactedURL
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        var secrets = writtenSecrets
        let context = "PostgreSQL URL \(redactedURL)"
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw PostgresError(sqlState: nil, message: "not a postgres:// or postgresql:// URL", context: context)
        }
        var parseError: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(url, &parseError) else {
            let message = parseError.map { String(cString: $0) } ?? "out of memory"
            PQfreemem(parseError)
            throw PostgresError(sqlState: nil, message: Self.scrub(message, removing: secrets), context: context)
        }
        defer { PQconninfoFree(options) }
        var given: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { given[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        if let password = given["password"], !password.isEmpty { secrets.append(password) }
        self.secrets = secrets

        // Entries before `dbname` are defaults that the URL overrides (libpq reads the arrays in
        // order, expanding the URL in `dbname`, and the last value of a keyword wins).
        var keywords: [String] = []
        var values: [String] = []
        if statementTimeoutMilliseconds > 0 && given["connect_timeout"] == nil && getenv("PGCONNECT_TIMEOUT") == nil {
            keywords.append("connect_timeout")
            values.append(String(max(1, (statementTimeoutMilliseconds + 999) / 1000)))
        }
        // A server that vanishes without a reset (a dead host, a dropped NAT entry) must not hold
        // a connection in recv for the kernel's quarter of an hour: TCP keepalives find the
        // silence, and tcp_user_timeout bounds unacknowledged sends. The URL may say otherwise.
        var network = [("keepalives", "1"), ("keepalives_idle", "10"), ("keepalives_interval", "5"), ("keepalives_count", "3")]
        if statementTimeoutMilliseconds > 0 { network.append(("tcp_user_timeout", String(statementTimeoutMilliseconds + 5_000))) }
        for (keyword, value) in network where given[keyword] == nil {
            keywords.append(keyword)
            values.append(value)
        }
        keywords += ["fallback_application_name", "dbname"]
        values += ["askd", url]
        // After the URL, so it always holds: parameters and results are UTF-8.
        keywords.append("client_encoding")
        values.append("UTF8")
        self.keywords = keywords
        self.values = values
    }

    /// Starts a connection (`PQconnectdbParams`); the caller checks its status and finishes it.
    func connect() -> OpaquePointer? {
        let keywordStrings = keywords.map { strdup($0) }
        let valueStrings = values.map { strdup($0) }
        defer {
            keywordStrings.forEach { free($0) }
            valueStrings.forEach { free($0) }
        }
        let keywordPointers = keywordStrings.map { UnsafePointer($0) } + [nil]
        let valuePointers = valueStrings.map { UnsafePointer($0) } + [nil]
        return PQconnectdbParams(keywordPointers, valuePointers, 1)
    }

    /// A libpq or server message on one line, without the store's passwords.
    func scrub(_ message: String) -> String {
        Self.scrub(message, removing: secrets)
    }

    private static func scrub(_ message: String, removing secrets: [String]) -> String {
        var text = message
        for secret in secrets where !secret.isEmpty { text = text.replacing(secret, with: "***") }
        var lines: [Substring] = []
        for var line in text.split(whereSeparator: \.isNewline) {
            while line.first?.isWhitespace == true { line.removeFirst() }
            while line.last?.isWhitespace == true { line.removeLast() }
            if !line.isEmpty { lines.append(line) }
        }
        return lines.joined(separator: " ")
    }
}
