#if canImport(Glibc)
import Glibc
#endif
import CSQLite
import Platform

/// One SQLite connection, used by one thread at a time, with its prepared statements cached.
final class SQLiteConnection {
    /// A value to bind to a `?` parameter.
    enum Value {
        case text(String)
        case integer(Int64)
        case null
    }

    private let db: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]
    private let writerLock: Lock
    private let checkpointer: Unmanaged<Checkpointer>?
    /// Whether the schema has `search_pending` and `search_queue` (`SQLiteSearchSchema`); each
    /// looked up until it has, which the migrations at the store's opening make so.
    private var searchPendingExists = false
    private var searchQueueExists = false
    /// Told when a commit leaves changes queued for the search index.
    private let searchIndexer: SearchIndexer?

    /// Opens `path`. With a `checkpointer`, the connection reports its commits to it instead of
    /// checkpointing inside them; with a `searchIndexer`, the commits that queue changes for the
    /// search index.
    init(
        path: String, busyTimeoutMilliseconds: Int32, writerLock: Lock, checkpointer: Checkpointer? = nil,
        searchIndexer: SearchIndexer? = nil
    ) throws {
        self.writerLock = writerLock
        self.searchIndexer = searchIndexer
        self.checkpointer = checkpointer.map { Unmanaged.passRetained($0) }
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            throw SQLiteError(code: rc, message: message, context: "open \(path)")
        }
        db = handle
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        try execute("PRAGMA foreign_keys = ON")
        // In WAL mode, NORMAL syncs at checkpoints rather than at every commit: a committed turn
        // survives askd crashing; a power cut may roll back the last few (see BENCHMARKS.md).
        try execute("PRAGMA synchronous = NORMAL")
        try enableWAL(path: path, waitingUpTo: Double(busyTimeoutMilliseconds) / 1000)
        if let checkpointer = self.checkpointer {
            // This replaces SQLite's own automatic checkpoint, which is a WAL hook too.
            sqlite3_wal_hook(db, { context, _, _, frames in
                Unmanaged<Checkpointer>.fromOpaque(context!).takeUnretainedValue().committed(logFrames: frames)
                return SQLITE_OK
            }, checkpointer.toOpaque())
        }
    }

    /// WAL lets readers and one writer work at once, across processes on one host. The mode is
    /// stored in the file, so only the first connection ever changes it; connections opening at
    /// the same moment may find the file locked by that change (SQLite does not call the busy
    /// handler for it), so they try again.
    private func enableWAL(path: String, waitingUpTo seconds: Double) throws {
        var waited = 0.0
        while true {
            do {
                if try query("PRAGMA journal_mode", [], { $0.text(0) }).first == "wal" { return }
                if try query("PRAGMA journal_mode = WAL", [], { $0.text(0) }).first == "wal" { return }
                throw SQLiteError(code: SQLITE_ERROR, message: "cannot switch to WAL mode", context: path)
            } catch let error as SQLiteError where error.code == SQLITE_BUSY || error.code == SQLITE_LOCKED {
                guard waited < seconds else { throw error }
                usleep(10_000)
                waited += 0.01
            }
        }
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(db)
        checkpointer?.release()
    }

    /// Runs a statement that returns no rows.
    func execute(_ sql: String, _ values: [Value] = []) throws {
        let statement = try prepared(sql, values)
        defer { sqlite3_reset(statement) }
        let rc = sqlite3_step(statement)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw error(rc, sql) }
    }

    /// Runs every statement of `sql` in turn (a trigger's body, semicolons and all, is one),
    /// without parameters or cached statements: for the schema.
    func executeScript(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        guard rc == SQLITE_OK else {
            throw SQLiteError(code: rc, message: message.map { String(cString: $0) } ?? "", context: String(sql.prefix(60)))
        }
    }

    /// Runs a query and maps each row.
    func query<T>(_ sql: String, _ values: [Value] = [], _ row: (Row) throws -> T) throws -> [T] {
        let statement = try prepared(sql, values)
        defer { sqlite3_reset(statement) }
        var rows: [T] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return rows }
            guard rc == SQLITE_ROW else { throw error(rc, sql) }
            rows.append(try row(Row(statement: statement)))
        }
    }

    /// Rows changed by the last statement.
    var changes: Int { Int(sqlite3_changes(db)) }

    /// Runs `body` in a transaction that takes the write lock at once (`BEGIN IMMEDIATE`), so
    /// that two writers never deadlock upgrading from read to write.
    ///
    /// The writers of one process queue on `writerLock` first, and take it as soon as it is
    /// free: SQLite's busy handler sleeps in steps of up to 100 ms however soon the lock frees.
    /// Other processes still meet at SQLite's lock.
    ///
    /// A commit that leaves changes queued for the search index tells the indexer, unless
    /// `reportingQueue` is false (the indexer's own).
    func writeTransaction<T>(reportingQueue: Bool = true, _ body: () throws -> T) throws -> T {
        checkpointer?.takeUnretainedValue().holdBackWriterIfFarBehind()
        let result: T
        var queued = false
        writerLock.lock()
        do {
            defer { writerLock.unlock() }
            try execute("BEGIN IMMEDIATE")
            do {
                result = try body()
                if try searchIsQueued() {
                    // Only the indexer's batches write the index, and flush it themselves.
                    // Asking is bookkeeping: when it fails, the indexer looks anyway.
                    if reportingQueue, searchIndexer != nil { queued = (try? !query(SQLiteSearchSchema.hasQueued, [], { _ in true }).isEmpty) ?? true }
                } else {
                    try flushSearchIndex()
                }
                try execute("COMMIT")
            } catch {
                try? execute("ROLLBACK")
                throw error
            }
        }
        if queued { searchIndexer?.changesQueued() }
        return result
    }

    /// Whether writes queue their changes for the search index (`SQLiteSearchSchema.deferredIndexing`).
    private func searchIsQueued() throws -> Bool {
        if !searchQueueExists { searchQueueExists = try hasTable("search_queue") }
        return searchQueueExists
    }

    /// Hands what the transaction put in `search_pending` to FTS5, before its commit.
    func flushSearchIndex() throws {
        if !searchPendingExists {
            searchPendingExists = try hasTable("search_pending")
            guard searchPendingExists else { return }
        }
        guard try !query(SQLiteSearchSchema.hasPending, [], { _ in true }).isEmpty else { return }
        for statement in SQLiteSearchSchema.flush { try execute(statement) }
    }

    private func hasTable(_ name: String) throws -> Bool {
        try !query("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", [.text(name)], { _ in true }).isEmpty
    }

    /// Runs `body` inside a savepoint of the open transaction: if it throws, what it wrote is
    /// undone and the transaction goes on.
    func savepoint<T>(_ body: () throws -> T) throws -> T {
        try execute("SAVEPOINT step")
        do {
            let result = try body()
            try execute("RELEASE step")
            return result
        } catch {
            do {
                try execute("ROLLBACK TO step")
                try execute("RELEASE step")
            } catch let undo {
                // What `body` wrote may still be there: the whole transaction must go.
                throw SavepointUndoFailed(error: undo)
            }
            throw error
        }
    }

    /// A savepoint could not be rolled back; only a rollback of the transaction is safe.
    struct SavepointUndoFailed: Error {
        let error: any Error
    }

    /// Whether a transaction is open. Some errors (a full disk, an I/O error) make SQLite roll
    /// back the whole transaction on its own.
    var inTransaction: Bool { sqlite3_get_autocommit(db) == 0 }

    private func prepared(_ sql: String, _ values: [Value]) throws -> OpaquePointer {
        let statement: OpaquePointer
        if let cached = statements[sql] {
            statement = cached
        } else {
            var handle: OpaquePointer?
            let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &handle, nil)
            guard rc == SQLITE_OK, let handle else { throw error(rc, sql) }
            statements[sql] = handle
            statement = handle
        }
        sqlite3_clear_bindings(statement)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32 = switch value {
            case .text(let text):
                // By length, not to the first NUL: text may hold any character. SQLite copies
                // it, straight from the string's own storage when it has contiguous UTF-8.
                text.utf8.withContiguousStorageIfAvailable { buffer in
                    Self.bindText(statement, index, buffer)
                } ?? Array(text.utf8).withUnsafeBufferPointer { buffer in
                    Self.bindText(statement, index, buffer)
                }
            case .integer(let number): sqlite3_bind_int64(statement, index, number)
            case .null: sqlite3_bind_null(statement, index)
            }
            guard rc == SQLITE_OK else { throw error(rc, sql) }
        }
        return statement
    }

    private static func bindText(_ statement: OpaquePointer, _ index: Int32, _ utf8: UnsafeBufferPointer<UInt8>) -> Int32 {
        // A non-null pointer even for "": SQLite binds NULL for a null one.
        let empty: CChar = 0
        return withUnsafePointer(to: empty) { emptyPointer in
            let start = utf8.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } ?? emptyPointer
            return sqlite3_bind_text(statement, index, start, Int32(utf8.count), askd_sqlite_transient())
        }
    }

    private func error(_ rc: Int32, _ sql: String) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(db)), context: String(sql.prefix(60)))
    }

    /// The current row of a query.
    struct Row {
        let statement: OpaquePointer

        func text(_ column: Int32) -> String? {
            guard let bytes = sqlite3_column_text(statement, column) else { return nil }
            let count = Int(sqlite3_column_bytes(statement, column))
            return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
        }

        func integer(_ column: Int32) -> Int64? {
            sqlite3_column_type(statement, column) == SQLITE_NULL ? nil : sqlite3_column_int64(statement, column)
        }
    }
}
