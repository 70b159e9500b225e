#if canImport(Glibc)
import Glibc
#endif
import CPostgres
import FoundationEssentials

/// One libpq connection, used by one thread at a time.
///
/// Every value goes to the server as a parameter, never in the SQL. Parameters are typed and
/// sent in binary form, and results come back in binary form: text as its UTF-8 bytes, integers
/// in network order. A statement with parameters is prepared once per connection, on first use
/// (`PQsendPrepare`), and then only executed (`PQsendQueryPrepared`): the server parses and
/// plans it once. No wait for the server, to send or to read, is longer than the statement
/// timeout and two seconds.
final class PostgresConnection {
    /// A value for a `$n` parameter, typed even when it is NULL, so that a prepared statement
    /// always sees the same types.
    enum Value {
        case text(String?)
        /// A string for a BYTEA column, as its UTF-8 bytes: PostgreSQL's TEXT cannot hold NUL.
        case bytes(String?)
        case integer(Int64?)
        case boolean(Bool)
    }

    private let connection: OpaquePointer
    private let settings: ConnectionSettings
    /// Set once a statement failed in a way that leaves the connection useless.
    private var ended = false
    /// The names of the statements prepared on this connection, by their SQL.
    private var prepared: [String: String] = [:]

    /// Connects and sets the statement timeout.
    init(settings: ConnectionSettings) throws {
        self.settings = settings
        let context = "connect to \(settings.redactedURL)"
        guard let handle = settings.connect() else {
            throw PostgresError(sqlState: nil, message: "out of memory", context: context, closedConnection: true)
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = settings.scrub(String(cString: PQerrorMessage(handle)))
            PQfinish(handle)
            throw PostgresError(sqlState: nil, message: message, context: context, closedConnection: true)
        }
        connection = handle
        askd_pg_silence_notices(handle)
        // Every wait on the server is bounded by askd (see `exchange`), sending included.
        PQsetnonblocking(handle, 1)
        try execute("SELECT set_config('statement_timeout', $1, false)", [.text(String(settings.statementTimeoutMilliseconds))])
    }

    deinit {
        PQfinish(connection)
    }

    /// Runs a statement; returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ values: [Value] = []) throws -> Int {
        let result = try run(sql, values)
        defer { PQclear(result) }
        return Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    /// Runs a query and maps each row.
    func query<T>(_ sql: String, _ values: [Value] = [], _ row: (Row) throws -> T) throws -> [T] {
        let result = try run(sql, values)
        defer { PQclear(result) }
        return try (0..<PQntuples(result)).map { try row(Row(result: result, index: $0)) }
    }

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            if PQtransactionStatus(connection) != PQTRANS_IDLE { _ = try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Whether the connection can serve another caller: open, and outside any transaction.
    var isReusable: Bool {
        !ended && PQstatus(connection) == CONNECTION_OK && PQtransactionStatus(connection) == PQTRANS_IDLE
    }

    /// Waits up to `milliseconds` for notifications on the channels this connection listens
    /// to (`LISTEN`); those that arrived, as (channel, payload).
    /// - Throws: `PostgresError` when the connection is lost.
    func notifications(waitingUpTo milliseconds: Int32) throws -> [(channel: String, payload: String)] {
        var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, milliseconds)
        guard PQconsumeInput(connection) == 1, PQstatus(connection) == CONNECTION_OK else {
            throw PostgresError(
                sqlState: nil, message: String(cString: PQerrorMessage(connection)), context: "waiting for notifications",
                closedConnection: true
            )
        }
        var received: [(channel: String, payload: String)] = []
        while let notification = PQnotifies(connection) {
            received.append((String(cString: notification.pointee.relname), String(cString: notification.pointee.extra)))
            PQfreemem(notification)
        }
        return received
    }

    /// Whether an idle connection is still open. A server that shuts down, restarts or ends
    /// the session sends a last message and closes the socket, and askd listens for nothing
    /// else, so anything to read on an idle connection means it is gone. Costs one `poll`.
    var isStillOpen: Bool {
        guard isReusable else { return false }
        var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) == 0
    }

    private func run(_ sql: String, _ values: [Value]) throws -> OpaquePointer {
        // All parameters in one buffer, each with its type, its offset (none for NULL) and its length.
        var bytes: [UInt8] = []
        var types: [Oid] = []
        var offsets: [Int?] = []
        var lengths: [Int32] = []
        for value in values {
            let start = bytes.count
            var isNull = false
            switch value {
            case .text(let text):
                types.append(25)
                if let text { bytes += text.utf8 } else { isNull = true }
            case .bytes(let text):
                types.append(17)
                if let text { bytes += text.utf8 } else { isNull = true }
            case .integer(let number):
                types.append(20)
                if let number { withUnsafeBytes(of: number.bigEndian) { bytes += $0 } } else { isNull = true }
            case .boolean(let flag):
                types.append(16)
                bytes.append(flag ? 1 : 0)
            }
            offsets.append(isNull ? nil : start)
            lengths.append(Int32(bytes.count - start))
        }
        let name = values.isEmpty ? nil : try statementName(for: sql, types: types)
        bytes.append(0)  // Never empty, so that every offset, even of an empty value, has an address.
        let formats = [Int32](repeating: 1, count: values.count)
        // libpq copies the parameters into its output buffer: the buffer may go once queued.
        return try exchange(sql) {
            bytes.withUnsafeBufferPointer { buffer in
                let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
                let pointers: [UnsafePointer<CChar>?] = offsets.map { $0.map { base + $0 } }
                if let name {
                    return PQsendQueryPrepared(connection, name, Int32(values.count), pointers, lengths, formats, 1)
                }
                return PQsendQueryParams(connection, sql, 0, nil, nil, nil, nil, 1)
            }
        }
    }

    /// Queues a statement with `send` (a `PQsend...` call), sends it and waits for its result,
    /// all within the statement timeout and two seconds more. The server ends a statement that
    /// runs too long by itself; but a server that stopped answering while its kernel still
    /// acknowledges (a stopped or stuck server, or a pooler in front of a dead one) kept a
    /// blocking `PQexec` waiting for as long as it stayed so, and one whose buffers are full
    /// would hold a blocking send. The connection does not block (`PQsetnonblocking`); past the
    /// deadline it is given up, as lost.
    ///
    /// It polls the socket in slices of at most 100 ms and reads after each: over TLS, bytes
    /// already decrypted may wait inside OpenSSL, where `poll` cannot see them.
    private func exchange(_ sql: String, _ send: () -> Int32) throws -> OpaquePointer {
        let limit = settings.statementTimeoutMilliseconds
        let deadline = limit > 0 ? ContinuousClock.now.advanced(by: .milliseconds(limit + 2_000)) : nil
        guard send() == 1 else { return try check(nil, sql) }
        // Send what was queued; the server may need its input read before it takes more.
        while true {
            let flushed = PQflush(connection)
            if flushed == 0 { break }
            guard flushed > 0 else { return try check(nil, sql) }
            if try waitForSocket(Int16(POLLIN | POLLOUT), until: deadline, sql) & Int16(POLLIN) != 0 {
                guard PQconsumeInput(connection) == 1 else { return try check(nil, sql) }
            }
        }
        var outcome: OpaquePointer?
        while true {
            while PQisBusy(connection) == 1 {
                do {
                    _ = try waitForSocket(Int16(POLLIN), until: deadline, sql)
                } catch {
                    // A last read, for what TLS may hold.
                    if PQconsumeInput(connection) == 1 && PQisBusy(connection) == 0 { continue }
                    PQclear(outcome)
                    throw error
                }
                guard PQconsumeInput(connection) == 1 else { break }
            }
            guard let next = PQgetResult(connection) else { break }
            // Keep the first failure, else the last result.
            if let kept = outcome, ![PGRES_COMMAND_OK, PGRES_TUPLES_OK].contains(PQresultStatus(kept)) {
                PQclear(next)
            } else {
                PQclear(outcome)
                outcome = next
            }
        }
        return try check(outcome, sql)
    }

    /// Polls the socket for `events` for one slice of at most 100 ms; what it reported (0: the
    /// slice passed).
    /// - Throws: `PostgresError`, the connection given up as lost, once `deadline` has passed.
    private func waitForSocket(_ events: Int16, until deadline: ContinuousClock.Instant?, _ sql: String) throws -> Int16 {
        var left: Int64 = 100
        if let deadline {
            let components = ContinuousClock.now.duration(to: deadline).components
            left = max(0, components.seconds * 1_000 + components.attoseconds / 1_000_000_000_000_000)
            guard left > 0 else {
                ended = true
                throw PostgresError(
                    sqlState: nil, message: "the server did not answer within \(settings.statementTimeoutMilliseconds + 2_000) ms",
                    context: String(sql.split(whereSeparator: \.isNewline).joined(separator: " ").prefix(60)), closedConnection: true
                )
            }
        }
        var descriptor = pollfd(fd: PQsocket(connection), events: events, revents: 0)
        let ready = poll(&descriptor, 1, Int32(min(left, 100)))
        return ready > 0 ? descriptor.revents : 0
    }

    /// The name of the statement prepared for `sql`, preparing it first if needed.
    private func statementName(for sql: String, types: [Oid]) throws -> String {
        if let name = prepared[sql] { return name }
        let name = "askd_\(prepared.count + 1)"
        PQclear(try exchange(sql) { PQsendPrepare(connection, name, sql, Int32(types.count), types) })
        prepared[sql] = name
        return name
    }

    /// The result if it succeeded; otherwise the error it carries, after clearing it.
    private func check(_ result: OpaquePointer?, _ sql: String) throws -> OpaquePointer {
        if let result, [PGRES_COMMAND_OK, PGRES_TUPLES_OK].contains(PQresultStatus(result)) { return result }
        let error = PostgresError(
            sqlState: result.flatMap { PQresultErrorField($0, askd_pg_diag_sqlstate()) }.map { String(cString: $0) },
            message: settings.scrub(
                result.flatMap { PQresultErrorField($0, askd_pg_diag_message_primary()) }.map { String(cString: $0) }
                    ?? result.map { String(cString: PQresultErrorMessage($0)) }
                    ?? String(cString: PQerrorMessage(connection))
            ),
            context: String(sql.split(whereSeparator: \.isNewline).joined(separator: " ").prefix(60)),
            closedConnection: PQstatus(connection) != CONNECTION_OK
        )
        PQclear(result)
        if error.endsConnection { ended = true }
        throw error
    }

    /// A row of a result.
    struct Row {
        let result: OpaquePointer
        let index: Int32

        func text(_ column: Int32) -> String? {
            guard PQgetisnull(result, index, column) == 0, let value = PQgetvalue(result, index, column) else { return nil }
            let count = Int(PQgetlength(result, index, column))
            return value.withMemoryRebound(to: UInt8.self, capacity: count) {
                String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
            }
        }

        /// A SMALLINT, INTEGER or BIGINT.
        func integer(_ column: Int32) -> Int64? {
            guard PQgetisnull(result, index, column) == 0, let value = PQgetvalue(result, index, column) else { return nil }
            let count = Int(PQgetlength(result, index, column))
            var number: Int64 = 0
            for offset in 0..<count { number = number << 8 | Int64(UInt8(bitPattern: value[offset])) }
            // Extends the sign of a shorter integer.
            let unused = Int64(64 - 8 * count)
            return (number << unused) >> unused
        }
    }
}

extension PostgresConnection.Value {
    static func date(_ date: Date?) -> Self {
        .integer(date?.milliseconds)
    }

    static func integer(_ value: Int?) -> Self {
        .integer(value.map(Int64.init))
    }
}
