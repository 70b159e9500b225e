#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
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
    private let leaseSeconds: Double
    private let pool: ConnectionPool<SQLiteConnection>
    private let checkpointer: Checkpointer
    /// The connection of group commits; only the leader of a commit uses it.
    private let turnWriter: SQLiteConnection
    private let turnCommits = GroupCommit<Turn>()
    /// Turns committed without waiting; they go through `turnCommits` too.
    private let backgroundCommits: BackgroundCommits
    private let tokenGeneration: TokenGeneration
    private let tokenCache = TokenCache()
    private let leases: TurnLeases

    /// Opens (creating if needed) and migrates the database at `path`.
    /// - Throws: `StoreError.unavailable` when the file cannot be opened or migrated.
    /// - Parameter maxConnections: how many connections the store's threads share; turns are
    ///   committed on one more, of their own.
    public init(path: String, leaseSeconds: Double = 30, busyTimeoutMilliseconds: Int32 = 10_000, maxConnections: Int = 8) throws {
        self.path = path
        self.leaseSeconds = leaseSeconds
        let writerLock = WriterLock()
        let checkpointer = Checkpointer(path: path, writerLock: writerLock)
        let open = {
            do {
                return try SQLiteConnection(
                    path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds, writerLock: writerLock, checkpointer: checkpointer
                )
            } catch {
                throw StoreError.unavailable("\(error)")
            }
        }
        self.checkpointer = checkpointer
        // A connection that comes back inside a transaction (a failed ROLLBACK) must not be lent again.
        let pool = ConnectionPool(capacity: max(1, maxConnections), isReusable: { !$0.inTransaction }, open: open)
        self.pool = pool
        // The renewals' thread must not hold the store: it captures the pool only.
        leases = TurnLeases(
            leaseSeconds: leaseSeconds,
            renew: { locks, seconds in try pool.withConnection { try Self.renew(locks, for: seconds, on: $0) } },
            release: { lock in try pool.withConnection { try Self.release(lock, on: $0) } }
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
        backgroundCommits.stop()
        checkpointer.stop()
    }

    /// The schema version of the open database.
    public func schemaVersion() throws -> Int {
        try withConnection { try $0.query("PRAGMA user_version", []) { Int($0.integer(0) ?? 0) }.first ?? 0 }
    }

    // MARK: Tokens

    public func insertToken(_ token: TokenRecord) throws {
        defer { tokenGeneration.change() }
        try withConnection { db in
            try db.writeTransaction {
                let taken = try db.query("SELECT 1 FROM tokens WHERE name = ? OR id = ? OR hash = ?", [
                    .text(token.name), .text(token.id), .text(token.hash),
                ]) { _ in true }
                guard taken.isEmpty else { throw StoreError.duplicate("token \(token.name)") }
                try db.execute(
                    "INSERT INTO tokens (id, name, hash, created_at, last_used_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [.text(token.id), .text(token.name), .text(token.hash), .date(token.createdAt),
                     .date(token.lastUsedAt), .date(token.expiresAt), .date(token.revokedAt)]
                )
            }
        }
    }

    /// The row is read from the database only when a token changed since this process last
    /// read it (see `TokenGeneration`), or a second passed: the database changes with every
    /// turn, and a read transaction on it is one of the dearest parts of a request.
    public func token(hash: String) throws -> TokenRecord? {
        try tokenCache.record(hash: hash, generation: tokenGeneration.current(), read: readToken)
    }

    private func readToken(hash: String) throws -> TokenRecord? {
        try withConnection { db in
            try db.query("SELECT \(Self.tokenColumns) FROM tokens WHERE hash = ?", [.text(hash)], Self.token).first
        }
    }

    public func allTokens() throws -> [TokenRecord] {
        try withConnection { db in
            try db.query("SELECT \(Self.tokenColumns) FROM tokens ORDER BY created_at, rowid", [], Self.token)
        }
    }

    public func revokeToken(idOrName: String, at date: Date) throws -> TokenRecord? {
        // Even when nothing changed: running it again repairs a change that a killed process
        // committed but could not announce.
        defer { tokenGeneration.change() }
        return try withConnection { db in
            try db.writeTransaction {
                let matches = try db.query(
                    "SELECT \(Self.tokenColumns) FROM tokens WHERE id = ? OR name = ? ORDER BY id = ? DESC",
                    [.text(idOrName), .text(idOrName), .text(idOrName)], Self.token
                )
                guard var token = matches.first else { return nil }
                if token.revokedAt == nil {
                    try db.execute("UPDATE tokens SET revoked_at = ? WHERE id = ?", [.date(date), .text(token.id)])
                    token.revokedAt = Date(milliseconds: date.milliseconds)
                }
                return token
            }
        }
    }

    /// No change of the tokens' generation: the last use decides nothing, and every process's
    /// token cache would be emptied by each one.
    public func markTokenUsed(id: String, at date: Date) throws {
        try withConnection { db in
            try db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", [.date(date), .text(id)])
        }
    }

    // MARK: Conversations

    public func conversation(id: String, owner: String) throws -> Conversation? {
        try withConnection { db in
            try db.query(
                "SELECT \(Self.conversationColumns) FROM conversations WHERE id = ? AND token_id = ?",
                [.text(id), .text(owner)], Self.conversation
            ).first
        }
    }

    public func messages(conversationID: String) throws -> [StoredMessage] {
        try withConnection { db in
            try db.query(
                "SELECT \(Self.messageColumns) FROM messages WHERE conversation_id = ? ORDER BY seq", [.text(conversationID)],
                Self.message
            )
        }
    }

    /// A range of the primary key, walked backwards from `sequence`: as many rows as asked.
    /// The sizes are summed over the page's sequence numbers alone; only the messages within
    /// the budget are then read whole.
    public func messages(conversationID: String, newest limit: Int, before sequence: Int?, maxBytes: Int) throws -> [StoredMessage] {
        guard limit > 0 else { return [] }
        return try withConnection { db in
            try db.query(
                """
                WITH page AS (
                    SELECT seq, SUM(size) OVER (ORDER BY seq DESC) AS running, ROW_NUMBER() OVER (ORDER BY seq DESC) AS n FROM (
                        SELECT seq, length(CAST(content AS BLOB)) + COALESCE(length(CAST(model AS BLOB)), 0) AS size
                        FROM messages WHERE conversation_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3
                    )
                )
                SELECT \(Self.messageColumns) FROM messages
                WHERE conversation_id = ?1 AND seq IN (SELECT seq FROM page WHERE running <= ?4 OR n = 1)
                ORDER BY seq
                """,
                [.text(conversationID), .integer(Int64(sequence ?? Int.max)), .integer(Int64(limit)), .integer(Int64(maxBytes))],
                Self.message
            )
        }
    }

    public func conversationSummary(id: String, owner: String) throws -> ConversationSummary? {
        try withConnection { db in
            try db.query(
                Self.summaries(where: "c.id = ? AND c.token_id = ?"),
                [.text(id), .text(owner)], Self.summary
            ).first
        }
    }

    /// Turns committed at the same moment by different threads share one transaction (see
    /// `GroupCommit`), each in its own savepoint, so one turn's failure undoes only that turn.
    public func commitTurn(_ turn: Turn) throws {
        let writer = turnWriter
        try Self.mappingErrors { try turnCommits.submit(turn) { Self.commit($0, on: writer) } }
    }

    /// Turns handed over here are committed on a thread of the store's own, many to a
    /// transaction (see `BackgroundCommits`), and join the turns of waiting threads.
    public func commitTurn(_ turn: Turn, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        backgroundCommits.submit(turn) { result in completion(result.mapError(Self.mapped)) }
    }

    /// Commits `turns` in one transaction, each in a savepoint: one result per turn, in order.
    private static func commit(_ turns: [Turn], on writer: SQLiteConnection) -> [Result<Void, any Error>] {
        do {
            return try writer.writeTransaction {
                var results: [Result<Void, any Error>] = []
                for turn in turns {
                    do {
                        try writer.savepoint { try Self.insert(turn, into: writer) }
                        results.append(.success(()))
                    } catch let failure as SQLiteConnection.SavepointUndoFailed {
                        throw failure.error
                    } catch {
                        // If SQLite gave up the whole transaction, no turn of it stands.
                        guard writer.inTransaction else { throw error }
                        results.append(.failure(error))
                    }
                }
                return results
            }
        } catch {
            return turns.map { _ in .failure(error) }
        }
    }

    /// The conversation row (created or touched), the turn's two messages and its usage.
    private static func insert(_ turn: Turn, into db: SQLiteConnection) throws {
        let last: Int64
        if turn.startsConversation {
            // The primary key refuses an id that is taken; a foreign-key failure still throws.
            try db.execute(
                """
                INSERT INTO conversations (id, token_id, created_at, updated_at, title, system, model) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO NOTHING
                """,
                [.text(turn.conversationID), .text(turn.owner), .date(turn.date), .date(turn.date)] + values(turn.settings)
            )
            guard db.changes == 1 else { throw StoreError.duplicate("conversation \(turn.conversationID)") }
            // A new conversation has no messages: its messages reference it.
            last = 0
        } else {
            // Inside the write transaction, nobody can take the lock over before the commit.
            if let lock = turn.lock {
                let held = try db.query(
                    "SELECT 1 FROM turn_locks WHERE conversation_id = ? AND holder = ?", [.text(lock.conversationID), .text(lock.holder)]
                ) { _ in true }
                guard !held.isEmpty else { throw StoreError.turnLockLost(turn.conversationID) }
            }
            try db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ? AND token_id = ?",
                [.date(turn.date), .text(turn.conversationID), .text(turn.owner)]
            )
            guard db.changes == 1 else { throw StoreError.conversationNotFound(turn.conversationID) }
            last = try db.query(
                "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = ?", [.text(turn.conversationID)]
            ) { $0.integer(0) ?? 0 }.first ?? 0
        }
        try db.execute(insertMessage, [
            .text(turn.conversationID), .integer(last + 1), .text(MessageRole.user.rawValue), .text(turn.prompt),
            .null, .null, .null, .null, .date(turn.date),
        ])
        try db.execute(
            """
            INSERT INTO usage_daily (token_id, day, requests, prompt_tokens, completion_tokens) VALUES (?, ?, 1, ?, ?)
            ON CONFLICT (token_id, day) DO UPDATE SET requests = requests + 1,
                prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens
            """,
            [.text(turn.owner), .text(turn.date.usageDay), .integer(turn.usage?.promptTokens ?? 0), .integer(turn.usage?.completionTokens ?? 0)]
        )
        try db.execute(insertMessage, [
            .text(turn.conversationID), .integer(last + 2), .text(MessageRole.assistant.rawValue), .text(turn.answer),
            .text(turn.model), .integer(turn.usage?.promptTokens), .integer(turn.usage?.completionTokens),
            .integer(turn.usage?.totalTokens), .date(turn.date),
        ])
    }

    public func updateConversation(id: String, owner: String, change: ConversationSettingsChange) throws -> Conversation? {
        try withConnection { db in
            try db.writeTransaction {
                let found = try db.query(
                    "SELECT \(Self.conversationColumns) FROM conversations WHERE id = ? AND token_id = ?", [.text(id), .text(owner)],
                    Self.conversation
                )
                guard var conversation = found.first else { return nil }
                conversation.settings = change.applied(to: conversation.settings)
                try db.execute(
                    "UPDATE conversations SET title = ?, system = ?, model = ? WHERE id = ?",
                    Self.values(conversation.settings) + [.text(id)]
                )
                return conversation
            }
        }
    }

    public func deleteConversation(id: String, owner: String) throws -> Bool {
        try withConnection { db in
            try db.writeTransaction {
                try db.execute("DELETE FROM conversations WHERE id = ? AND token_id = ?", [.text(id), .text(owner)])
                return db.changes == 1
            }
        }
    }

    public func acquireTurnLock(
        conversationID: String, timeout: Double, then completion: @escaping @Sendable (Result<TurnLock, any Error>) -> Void
    ) {
        let holder = UUID().uuidString
        leases.acquire(conversationID: conversationID, timeout: timeout, take: { [self] in
            let acquired = try withConnection { db in
                try db.writeTransaction {
                    let now = Date()
                    try db.execute(
                        "DELETE FROM turn_locks WHERE conversation_id = ? AND expires_at < ?", [.text(conversationID), .date(now)]
                    )
                    try db.execute(
                        "INSERT OR IGNORE INTO turn_locks (conversation_id, holder, expires_at) VALUES (?, ?, ?)",
                        [.text(conversationID), .text(holder), .date(now.addingTimeInterval(leaseSeconds))]
                    )
                    return db.changes == 1
                }
            }
            return acquired ? TurnLock(conversationID: conversationID, holder: holder) : nil
        }, isHeld: { [self] in
            try withConnection { db in
                try !db.query(
                    "SELECT 1 FROM turn_locks WHERE conversation_id = ? AND expires_at >= ?", [.text(conversationID), .date(Date())]
                ) { _ in true }.isEmpty
            }
        }, then: completion)
    }

    /// Gives the lock back now, or, if the database refuses, at the next renewals.
    public func releaseTurnLock(_ lock: TurnLock) {
        leases.giveBack(lock)
    }

    private static func renew(_ locks: [TurnLock], for seconds: Double, on db: SQLiteConnection) throws {
        try db.writeTransaction {
            let until = Date().addingTimeInterval(seconds)
            for lock in locks {
                try db.execute(
                    "UPDATE turn_locks SET expires_at = ? WHERE conversation_id = ? AND holder = ?",
                    [.date(until), .text(lock.conversationID), .text(lock.holder)]
                )
            }
        }
    }

    private static func release(_ lock: TurnLock, on db: SQLiteConnection) throws {
        try db.writeTransaction {
            try db.execute("DELETE FROM turn_locks WHERE conversation_id = ? AND holder = ?", [.text(lock.conversationID), .text(lock.holder)])
        }
    }

    /// A page by keyset on `conversations_by_creation` (migration 4), in the index's order, so
    /// that nothing is sorted and the figures are looked up for the page's rows only.
    public func conversations(owner: String, limit: Int, after cursor: ConversationCursor?) throws -> [ConversationSummary] {
        guard limit > 0 else { return [] }
        // Past every conversation when there is no cursor: the same statement, and the same plan.
        let after = cursor.map { [SQLiteConnection.Value.date($0.createdAt), .text($0.id)] } ?? [.integer(Int64.max), .text("")]
        return try withConnection { db in
            try db.query(Self.conversationPage, [.text(owner)] + after + [.integer(Int64(limit))], Self.summary)
        }
    }

    /// `?` the owner, `?, ?` the keyset (created_at, id) to start after, `?` the limit.
    static let conversationPage = summaries(where: """
        c.token_id = ? AND (c.created_at, c.id) < (?, ?)
        ORDER BY c.created_at DESC, c.id DESC
        LIMIT ?
        """)

    /// The conversations that `clause` selects, with the three figures of a summary, each an
    /// indexed lookup on the messages' primary key made for each row returned: the count is the
    /// last sequence number, since numbers have no gaps.
    static func summaries(where clause: String) -> String {
        """
        SELECT c.id, c.token_id, c.created_at, c.updated_at, c.title, c.system, c.model,
            (SELECT MAX(m.seq) FROM messages m WHERE m.conversation_id = c.id),
            (SELECT m.content FROM messages m WHERE m.conversation_id = c.id AND m.seq = 1 AND m.role = 'user'),
            (SELECT m.model FROM messages m WHERE m.conversation_id = c.id AND m.role = 'assistant' ORDER BY m.seq DESC LIMIT 1)
        FROM conversations c
        WHERE \(clause)
        """
    }

    private static func summary(_ row: SQLiteConnection.Row) -> ConversationSummary {
        ConversationSummary(
            conversation: conversation(row), messageCount: Int(row.integer(7) ?? 0), firstPrompt: row.text(8), lastModel: row.text(9)
        )
    }

    public func deleteAllConversations(owner: String) throws -> Int {
        try withConnection { db in
            try db.writeTransaction {
                try db.execute("DELETE FROM conversations WHERE token_id = ?", [.text(owner)])
                return db.changes
            }
        }
    }

    public func recordUsage(owner: String, usage: TokenUsage, date: Date) throws {
        try withConnection { db in
            try db.writeTransaction {
                try db.execute(
                    """
                    INSERT INTO usage_daily (token_id, day, requests, prompt_tokens, completion_tokens) VALUES (?, ?, 1, ?, ?)
                    ON CONFLICT (token_id, day) DO UPDATE SET requests = requests + 1,
                        prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens
                    """,
                    [.text(owner), .text(date.usageDay), .integer(usage.promptTokens), .integer(usage.completionTokens)]
                )
            }
        }
    }

    public func usage(owner: String, day: String) throws -> (day: UsageTotals, total: UsageTotals) {
        try withConnection { db in
            let totals = try db.query(
                """
                SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),
                    COALESCE(SUM(requests) FILTER (WHERE day = ?), 0), COALESCE(SUM(prompt_tokens) FILTER (WHERE day = ?), 0),
                    COALESCE(SUM(completion_tokens) FILTER (WHERE day = ?), 0)
                FROM usage_daily WHERE token_id = ?
                """,
                [.text(day), .text(day), .text(day), .text(owner)]
            ) { row in
                (
                    day: UsageTotals(requests: Int(row.integer(3) ?? 0), promptTokens: Int(row.integer(4) ?? 0), completionTokens: Int(row.integer(5) ?? 0)),
                    total: UsageTotals(requests: Int(row.integer(0) ?? 0), promptTokens: Int(row.integer(1) ?? 0), completionTokens: Int(row.integer(2) ?? 0))
                )
            }
            return totals.first ?? (UsageTotals(), UsageTotals())
        }
    }

    public func checkAvailable() throws {
        try withConnection { db in _ = try db.query("SELECT COUNT(*) FROM tokens WHERE 0", []) { _ in true } }
    }

    // MARK: Moving stores

    public func allConversations() throws -> [Conversation] {
        try withConnection { db in
            try db.query("SELECT \(Self.conversationColumns) FROM conversations ORDER BY created_at, id", [], Self.conversation)
        }
    }

    public func importToken(_ token: TokenRecord) throws {
        defer { tokenGeneration.change() }
        try withConnection { db in
            try db.writeTransaction {
                let taken = try db.query("SELECT 1 FROM tokens WHERE id <> ? AND (name = ? OR hash = ?)", [
                    .text(token.id), .text(token.name), .text(token.hash),
                ]) { _ in true }
                guard taken.isEmpty else { throw StoreError.duplicate("token \(token.name)") }
                try db.execute(
                    """
                    INSERT INTO tokens (id, name, hash, created_at, last_used_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET name = excluded.name, hash = excluded.hash, created_at = excluded.created_at,
                        last_used_at = excluded.last_used_at, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at
                    """,
                    [.text(token.id), .text(token.name), .text(token.hash), .date(token.createdAt),
                     .date(token.lastUsedAt), .date(token.expiresAt), .date(token.revokedAt)]
                )
            }
        }
    }

    public func importConversation(_ conversation: Conversation, messages: [StoredMessage]) throws {
        try withConnection { db in
            try db.writeTransaction {
                try db.execute("DELETE FROM conversations WHERE id = ?", [.text(conversation.id)])
                try db.execute(
                    "INSERT INTO conversations (id, token_id, created_at, updated_at, title, system, model) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [.text(conversation.id), .text(conversation.owner), .date(conversation.createdAt), .date(conversation.updatedAt)]
                        + Self.values(conversation.settings)
                )
                for message in messages {
                    try db.execute(Self.insertMessage, [
                        .text(conversation.id), .integer(Int64(message.sequence)), .text(message.role.rawValue), .text(message.content),
                        message.model.map { .text($0) } ?? .null, .integer(message.usage?.promptTokens),
                        .integer(message.usage?.completionTokens), .integer(message.usage?.totalTokens), .date(message.createdAt),
                    ])
                }
            }
        }
    }

    // MARK: Plumbing

    private static let insertMessage = """
        INSERT INTO messages (conversation_id, seq, role, content, model, prompt_tokens, completion_tokens, total_tokens, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    private static let conversationColumns = "id, token_id, created_at, updated_at, title, system, model"

    private static let messageColumns = "seq, role, content, model, prompt_tokens, completion_tokens, total_tokens, created_at"

    /// A row that starts with `messageColumns`.
    private static func message(_ row: SQLiteConnection.Row) -> StoredMessage {
        let usage = row.integer(4).map { prompt in
            TokenUsage(promptTokens: Int(prompt), completionTokens: Int(row.integer(5) ?? 0), totalTokens: Int(row.integer(6) ?? 0))
        }
        return StoredMessage(
            sequence: Int(row.integer(0) ?? 0), role: MessageRole(rawValue: row.text(1) ?? "") ?? .user,
            content: row.text(2) ?? "", model: row.text(3), usage: usage, createdAt: Date(milliseconds: row.integer(7) ?? 0)
        )
    }

    /// A row that starts with `conversationColumns`.
    private static func conversation(_ row: SQLiteConnection.Row) -> Conversation {
        Conversation(
            id: row.text(0) ?? "", owner: row.text(1) ?? "",
            createdAt: Date(milliseconds: row.integer(2) ?? 0), updatedAt: Date(milliseconds: row.integer(3) ?? 0),
            settings: ConversationSettings(title: row.text(4), system: row.text(5), model: row.text(6))
        )
    }

    private static func values(_ settings: ConversationSettings) -> [SQLiteConnection.Value] {
        [settings.title, settings.system, settings.model].map { $0.map { .text($0) } ?? .null }
    }

    private static let tokenColumns = "id, name, hash, created_at, last_used_at, expires_at, revoked_at"

    private static func token(_ row: SQLiteConnection.Row) -> TokenRecord {
        TokenRecord(
            id: row.text(0) ?? "", name: row.text(1) ?? "", hash: row.text(2) ?? "",
            createdAt: Date(milliseconds: row.integer(3) ?? 0), lastUsedAt: row.integer(4).map(Date.init(milliseconds:)),
            expiresAt: row.integer(5).map(Date.init(milliseconds:)), revokedAt: row.integer(6).map(Date.init(milliseconds:))
        )
    }

    /// Runs `body` with a connection from the pool.
    private func withConnection<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try Self.mappingErrors { try pool.withConnection(body) }
    }

    /// Runs `body`, turning failures of the database itself into `StoreError.unavailable`.
    private static func mappingErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw mapped(error)
        }
    }

    private static func mapped(_ error: any Error) -> any Error {
        if let error = error as? SQLiteError, unavailableCodes.contains(error.code & 0xFF) {
            return StoreError.unavailable("\(error)")
        }
        return error
    }

    /// Failures of the database rather than of a request: busy, locked, read-only, I/O error,
    /// disk full, cannot open.
    private static let unavailableCodes: Set<Int32> = [5, 6, 8, 10, 13, 14]
}

extension SQLiteConnection.Value {
    static func date(_ date: Date?) -> Self {
        date.map { .integer($0.milliseconds) } ?? .null
    }

    static func integer(_ value: Int?) -> Self {
        value.map { .integer(Int64($0)) } ?? .null
    }
}
