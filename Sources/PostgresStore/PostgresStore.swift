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
    private let pool: ConnectionPool<PostgresConnection>
    private let leaseMilliseconds: Int64
    private let tokenCache = TokenCache()
    private let tokenNotifications: TokenNotifications
    private let leases: TurnLeases
    /// Set when the store opened without reaching the database to migrate it: the first
    /// operation that reaches it migrates first.
    private let migrationPending = Atomic<Bool>(false)
    private let migration = Locked(MigrationAttempts())

    /// The attempts at a migration the store opened without.
    private struct MigrationAttempts {
        var running = false
        /// Until when callers are told the last failure instead of trying again.
        var quietUntil: ContinuousClock.Instant?
        var lastFailure = ""
    }

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
    /// - Throws: `StoreError.unavailable` when the database cannot be reached, `PostgresError`
    ///   when `url` is not a PostgreSQL URL or the migration fails.
    public init(
        url: String, maxConnections: Int = 16, statementTimeoutMilliseconds: Int = 10_000, migrate: Bool = true,
        leaseSeconds: Double = 30, migrateOnceReachable: Bool = false
    ) throws {
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
        tokenNotifications = TokenNotifications(settings: settings)
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
        tokenNotifications.stop()
    }

    /// Brings the schema to the latest version; several hosts may do it at once.
    /// - Throws: `StoreError.unavailable` when the database cannot be reached, `PostgresError`
    ///   when a migration fails.
    public func migrate() throws {
        try withConnection { try PostgresMigrations.migrate($0) }
    }

    /// The schema version of the database: 0 before the first migration.
    public func schemaVersion() throws -> Int {
        try withConnection { try PostgresMigrations.currentVersion($0) }
    }

    // MARK: Tokens

    public func insertToken(_ token: TokenRecord) throws {
        try withConnection { db in
            try Self.unique("token \(token.name)") {
                _ = try db.execute(
                    """
                    INSERT INTO tokens (id, name, hash, created_at, last_used_at, expires_at, revoked_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    """,
                    Self.values(token)
                )
            }
            announceTokenChange(db)
        }
    }

    /// The row is read from the database only when a token changed since this process last
    /// read it (see `TokenNotifications`), or a second passed: it saves a round trip, and the
    /// server's work, on every request.
    public func token(hash: String) throws -> TokenRecord? {
        try tokenCache.record(hash: hash, generation: tokenNotifications.current(), read: readToken)
    }

    private func readToken(hash: String) throws -> TokenRecord? {
        try withConnection { db in
            try db.query("SELECT \(Self.tokenColumns) FROM tokens WHERE hash = $1", [.text(hash)], Self.token).first
        }
    }

    /// Tells every process that a token changed, after the change was committed, so that their
    /// `TokenCache`s read it again. If this fails, their copies still expire within a second.
    /// This process's own rows are dropped at once, without waiting for its notification.
    private func announceTokenChange(_ db: PostgresConnection) {
        tokenNotifications.changedHere()
        _ = try? db.execute("NOTIFY \(TokenNotifications.channel)")
    }

    public func allTokens() throws -> [TokenRecord] {
        try withConnection { db in
            try db.query("SELECT \(Self.tokenColumns) FROM tokens ORDER BY created_at, position", [], Self.token)
        }
    }

    public func revokeToken(idOrName: String, at date: Date) throws -> TokenRecord? {
        try withConnection { db in
            defer { announceTokenChange(db) }
            return try db.query(
                """
                UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2)
                WHERE id = (SELECT id FROM tokens WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC LIMIT 1)
                RETURNING \(Self.tokenColumns)
                """,
                [.text(idOrName), .date(date)], Self.token
            ).first
        }
    }

    /// Announced to no one: the last use decides nothing, and every host's token cache would be
    /// emptied by each one.
    public func markTokenUsed(id: String, at date: Date) throws {
        _ = try withConnection { db in
            try db.execute("UPDATE tokens SET last_used_at = $1 WHERE id = $2", [.date(date), .text(id)])
        }
    }

    // MARK: Conversations

    public func conversation(id: String, owner: String) throws -> Conversation? {
        try withConnection { db in
            try db.query(
                "SELECT \(Self.conversationColumns) FROM conversations WHERE id = $1 AND token_id = $2",
                [.text(id), .text(owner)], Self.conversation
            ).first
        }
    }

    public func messages(conversationID: String) throws -> [StoredMessage] {
        try withConnection { db in
            try db.query(
                "SELECT \(Self.messageColumns) FROM messages WHERE conversation_id = $1 ORDER BY seq", [.text(conversationID)],
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
                        SELECT seq, octet_length(content) + COALESCE(octet_length(model), 0) AS size
                        FROM messages WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3
                    ) AS sizes
                )
                SELECT \(Self.messageColumns) FROM messages
                WHERE conversation_id = $1 AND seq IN (SELECT seq FROM page WHERE running <= $4 OR n = 1)
                ORDER BY seq
                """,
                [.text(conversationID), .integer(sequence ?? Int.max), .integer(limit), .integer(maxBytes)], Self.message
            )
        }
    }

    public func conversationSummary(id: String, owner: String) throws -> ConversationSummary? {
        try withConnection { db in
            try db.query(
                Self.summaries(where: "c.id = $1 AND c.token_id = $2"),
                [.text(id), .text(owner)], Self.summary
            ).first
        }
    }

    private static let messageColumns = "seq, role, content, model, prompt_tokens, completion_tokens, total_tokens, created_at"

    private static func message(_ row: PostgresConnection.Row) -> StoredMessage {
        let usage = row.integer(4).map { prompt in
            TokenUsage(promptTokens: Int(prompt), completionTokens: Int(row.integer(5) ?? 0), totalTokens: Int(row.integer(6) ?? 0))
        }
        return StoredMessage(
            sequence: Int(row.integer(0) ?? 0), role: MessageRole(rawValue: row.text(1) ?? "") ?? .user,
            content: row.text(2) ?? "", model: row.text(3), usage: usage, createdAt: Date(milliseconds: row.integer(7) ?? 0)
        )
    }

    /// One statement, so one round trip and its own transaction: it creates the conversation
    /// (or updates it, locking its row), and inserts the two messages after the last one. If
    /// another turn on the same conversation commits while this one waits for the row, the
    /// statement, whose snapshot predates that turn, finds its sequence numbers taken and
    /// fails whole; it then runs again on a fresh snapshot.
    public func commitTurn(_ turn: Turn) throws {
        let values: [PostgresConnection.Value] = [
            .text(turn.conversationID), .text(turn.owner), .date(turn.date), .bytes(turn.prompt), .bytes(turn.answer),
            .text(Self.storable(turn.model)), .integer(turn.usage?.promptTokens), .integer(turn.usage?.completionTokens),
            .integer(turn.usage?.totalTokens), .text(turn.date.usageDay),
            .integer(Self.usageShard(for: turn.conversationID)),
        ] + (turn.startsConversation
            ? [.text(turn.settings.title), .bytes(turn.settings.system), .text(turn.settings.model)]
            : turn.lock.map { [.text($0.holder)] } ?? [])
        let statement = turn.startsConversation ? Self.startTurn : turn.lock == nil ? Self.continueTurn : Self.continueLockedTurn
        let inserted = try withConnection { db in
            var attempts = 0
            while true {
                do {
                    return try db.execute(statement, values)
                } catch let error as PostgresError where error.sqlState == "23505" && attempts < 100 {
                    attempts += 1
                }
            }
        }
        guard inserted == 2 else {
            if turn.startsConversation { throw StoreError.duplicate("conversation \(turn.conversationID)") }
            if let lock = turn.lock, try !holds(lock) { throw StoreError.turnLockLost(turn.conversationID) }
            throw StoreError.conversationNotFound(turn.conversationID)
        }
    }

    private func holds(_ lock: TurnLock) throws -> Bool {
        try withConnection { db in
            try !db.query(
                "SELECT 1 FROM turn_locks WHERE conversation_id = $1 AND holder = $2", [.text(lock.conversationID), .text(lock.holder)]
            ) { _ in true }.isEmpty
        }
    }

    /// A turn's two messages, after `last` (the conversation's last sequence number) and for
    /// `conversation` (empty when the conversation is not there, so nothing is inserted).
    private static let insertTurnMessages = """
        INSERT INTO messages
            (conversation_id, seq, role, content, model, prompt_tokens, completion_tokens, total_tokens, created_at)
        SELECT conversation.id, last.seq + message.step, message.role, message.content, message.model,
            message.prompt_tokens, message.completion_tokens, message.total_tokens, $3
        FROM conversation, last, (VALUES
            (1, 'user', $4, NULL, NULL, NULL, NULL),
            (2, 'assistant', $5, $6, $7, $8, $9)
        ) AS message (step, role, content, model, prompt_tokens, completion_tokens, total_tokens)
        """

    /// How many rows a token's usage for a day may spread over (see migration 4): a turn adds to
    /// the one its conversation hashes to, so that concurrent turns of one token, which belong to
    /// different conversations, seldom wait for one another's commit (turns of one conversation
    /// wait for each other anyway, on its turn lock). With 50 concurrent new conversations of one token (durable cluster,
    /// three paired runs), PostgreSQL's CPU per turn was 268-429 µs with one row, 229-384 µs with
    /// 16, and 221-229 µs with no usage update at all.
    static let usageShards = 16

    /// The usage row of a turn of `conversation`: a hash (seeded per process, so hosts differ,
    /// which is fine) rather than a random number, which would cost a getrandom(2) per turn.
    static func usageShard(for conversation: String) -> Int {
        Int(UInt(bitPattern: conversation.hashValue) % UInt(usageShards))
    }

    private static let startTurn = """
        WITH conversation AS (
            INSERT INTO conversations (id, token_id, created_at, updated_at, title, system, model)
            VALUES ($1, $2, $3, $3, $12, $13, $14)
            ON CONFLICT (id) DO NOTHING
            RETURNING id
        ), last AS (
            SELECT 0 AS seq
        ), usage AS (
            INSERT INTO usage_daily (token_id, day, shard, requests, prompt_tokens, completion_tokens)
            SELECT $2, $10, $11, 1, COALESCE($7, 0), COALESCE($8, 0) FROM conversation
            ON CONFLICT (token_id, day, shard) DO UPDATE SET requests = usage_daily.requests + 1,
                prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
                completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens
        )
        """ + "\n" + insertTurnMessages

    private static let continueTurn = continuing(locked: false)
    private static let continueLockedTurn = continuing(locked: true)

    /// A turn on an existing conversation. With `locked`, it is stored only while the turn's
    /// lock (holder `$12`) is still there: its lease row is locked until the commit, so no other
    /// holder can take it over meanwhile.
    private static func continuing(locked: Bool) -> String {
        let held = locked ? "held AS (SELECT 1 FROM turn_locks WHERE conversation_id = $1 AND holder = $12 FOR UPDATE), " : ""
        return """
            WITH \(held)conversation AS (
                UPDATE conversations SET updated_at = $3 WHERE id = $1 AND token_id = $2\(locked ? " AND EXISTS (SELECT 1 FROM held)" : "")
                RETURNING id
            ), last AS (
                SELECT COALESCE(MAX(seq), 0) AS seq FROM messages WHERE conversation_id = $1
            ), usage AS (
                INSERT INTO usage_daily (token_id, day, shard, requests, prompt_tokens, completion_tokens)
                SELECT $2, $10, $11, 1, COALESCE($7, 0), COALESCE($8, 0) FROM conversation
                ON CONFLICT (token_id, day, shard) DO UPDATE SET requests = usage_daily.requests + 1,
                    prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
                    completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens
            )
            """ + "\n" + insertTurnMessages
    }

    /// One statement: each setting takes its new value where the change names it (a flag, then
    /// the value, per setting) and keeps its own otherwise; `updated_at` is left alone.
    public func updateConversation(id: String, owner: String, change: ConversationSettingsChange) throws -> Conversation? {
        try withConnection { db in
            try db.query(
                """
                UPDATE conversations SET
                    title = CASE WHEN $3 THEN $4 ELSE title END,
                    system = CASE WHEN $5 THEN $6 ELSE system END,
                    model = CASE WHEN $7 THEN $8 ELSE model END
                WHERE id = $1 AND token_id = $2
                RETURNING \(Self.conversationColumns)
                """,
                [
                    .text(id), .text(owner),
                    .boolean(change.title != nil), .text(change.title ?? nil),
                    .boolean(change.system != nil), .bytes(change.system ?? nil),
                    .boolean(change.model != nil), .text(change.model ?? nil),
                ],
                Self.conversation
            ).first
        }
    }

    public func deleteConversation(id: String, owner: String) throws -> Bool {
        try withConnection { db in
            try db.execute("DELETE FROM conversations WHERE id = $1 AND token_id = $2", [.text(id), .text(owner)]) == 1
        }
    }

    public func recordUsage(owner: String, usage: TokenUsage, date: Date) throws {
        _ = try withConnection { db in
            try db.execute(
                """
                INSERT INTO usage_daily (token_id, day, shard, requests, prompt_tokens, completion_tokens) VALUES ($1, $2, $3, 1, $4, $5)
                ON CONFLICT (token_id, day, shard) DO UPDATE SET requests = usage_daily.requests + 1,
                    prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
                    completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens
                """,
                [.text(owner), .text(date.usageDay), .integer(Self.usageShard(for: owner)), .integer(usage.promptTokens),
                 .integer(usage.completionTokens)]
            )
        }
    }

    public func usage(owner: String, day: String) throws -> (day: UsageTotals, total: UsageTotals) {
        try withConnection { db in
            try db.query(
                """
                SELECT COALESCE(SUM(requests), 0)::BIGINT, COALESCE(SUM(prompt_tokens), 0)::BIGINT,
                    COALESCE(SUM(completion_tokens), 0)::BIGINT,
                    COALESCE(SUM(requests) FILTER (WHERE day = $2), 0)::BIGINT,
                    COALESCE(SUM(prompt_tokens) FILTER (WHERE day = $2), 0)::BIGINT,
                    COALESCE(SUM(completion_tokens) FILTER (WHERE day = $2), 0)::BIGINT
                FROM usage_daily WHERE token_id = $1
                """,
                [.text(owner), .text(day)]
            ) { row in
                (
                    day: UsageTotals(requests: Int(row.integer(3) ?? 0), promptTokens: Int(row.integer(4) ?? 0), completionTokens: Int(row.integer(5) ?? 0)),
                    total: UsageTotals(requests: Int(row.integer(0) ?? 0), promptTokens: Int(row.integer(1) ?? 0), completionTokens: Int(row.integer(2) ?? 0))
                )
            }.first ?? (UsageTotals(), UsageTotals())
        }
    }

    /// One statement per page: the page's conversations by keyset (ids compared bytewise, as
    /// `COLLATE "C"`, like the other backends), each with its message count, first prompt and
    /// last model from subqueries on the messages' primary key, for the page's rows only.
    public func conversations(owner: String, limit: Int, after cursor: ConversationCursor?) throws -> [ConversationSummary] {
        guard limit > 0 else { return [] }
        return try withConnection { db in
            if let cursor {
                return try db.query(
                    Self.conversationPageAfter,
                    [.text(owner), .integer(limit), .date(cursor.createdAt), .text(cursor.id)], Self.summary
                )
            }
            return try db.query(Self.conversationPage, [.text(owner), .integer(limit)], Self.summary)
        }
    }

    public func deleteAllConversations(owner: String) throws -> Int {
        try withConnection { db in
            try db.execute("DELETE FROM conversations WHERE token_id = $1", [.text(owner)])
        }
    }

    /// A page of summaries: `$1` the owner, `$2` the limit, and `keyset` what narrows it. The
    /// rows come in order from `conversations_by_creation` (migration 5), so that nothing is
    /// sorted and the figures are looked up for the page's rows only.
    private static func conversationPage(keyset: String) -> String {
        summaries(where: """
            c.token_id = $1\(keyset)
            ORDER BY c.created_at DESC, c.id COLLATE "C" DESC
            LIMIT $2
            """)
    }

    /// The conversations that `clause` selects, with the three figures of a summary, each an
    /// indexed lookup on the messages' primary key made for each row returned: the count is the
    /// last sequence number, since numbers have no gaps.
    private static func summaries(where clause: String) -> String {
        """
        SELECT c.id, c.token_id, c.created_at, c.updated_at, c.title, c.system, c.model,
            (SELECT MAX(m.seq) FROM messages m WHERE m.conversation_id = c.id),
            (SELECT m.content FROM messages m WHERE m.conversation_id = c.id AND m.seq = 1 AND m.role = 'user'),
            (SELECT m.model FROM messages m WHERE m.conversation_id = c.id AND m.role = 'assistant'
                ORDER BY m.seq DESC LIMIT 1)
        FROM conversations c
        WHERE \(clause)
        """
    }

    static let conversationPage = conversationPage(keyset: "")

    static let conversationPageAfter = conversationPage(
        keyset: " AND (c.created_at, c.id COLLATE \"C\") < ($3, $4)"
    )

    private static func summary(_ row: PostgresConnection.Row) -> ConversationSummary {
        ConversationSummary(
            conversation: conversation(row), messageCount: Int(row.integer(7) ?? 0), firstPrompt: row.text(8),
            lastModel: row.text(9)
        )
    }

    /// The lock is a lease row: taken when no row exists or the one there has expired, in one
    /// statement, and tried again with growing pauses (1 to 20 ms) until `timeout`.
    public func acquireTurnLock(
        conversationID: String, timeout: Double, then completion: @escaping @Sendable (Result<TurnLock, any Error>) -> Void
    ) {
        let holder = UUID().uuidString
        leases.acquire(conversationID: conversationID, timeout: timeout, take: { [self] in
            let acquired = try withConnection { db in
                try db.execute(
                    """
                    INSERT INTO turn_locks (conversation_id, holder, expires_at)
                    VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $3)
                    ON CONFLICT (conversation_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                    WHERE turn_locks.expires_at < (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                    """,
                    [.text(conversationID), .text(holder), .integer(leaseMilliseconds)]
                ) == 1
            }
            return acquired ? TurnLock(conversationID: conversationID, holder: holder) : nil
        }, isHeld: { [self] in
            try withConnection { db in
                try !db.query(
                    """
                    SELECT 1 FROM turn_locks
                    WHERE conversation_id = $1 AND expires_at >= (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                    """,
                    [.text(conversationID)]
                ) { _ in true }.isEmpty
            }
        }, then: completion)
    }

    /// Gives the lock back now, or, if the database cannot be reached, at the next renewals.
    public func releaseTurnLock(_ lock: TurnLock) {
        leases.giveBack(lock)
    }

    private static func renew(_ locks: [TurnLock], for seconds: Double, on db: PostgresConnection) throws {
        for lock in locks {
            _ = try db.execute(
                """
                UPDATE turn_locks SET expires_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $3
                WHERE conversation_id = $1 AND holder = $2
                """,
                [.text(lock.conversationID), .text(lock.holder), .integer(Int64(seconds * 1000))]
            )
        }
    }

    private static func release(_ lock: TurnLock, on db: PostgresConnection) throws {
        _ = try db.execute(
            "DELETE FROM turn_locks WHERE conversation_id = $1 AND holder = $2", [.text(lock.conversationID), .text(lock.holder)]
        )
    }

    public func checkAvailable() throws {
        try withConnection { db in _ = try db.query("SELECT 1", []) { _ in true } }
    }

    // MARK: Moving stores

    public func allConversations() throws -> [Conversation] {
        try withConnection { db in
            try db.query(
                "SELECT \(Self.conversationColumns) FROM conversations ORDER BY created_at, id COLLATE \"C\"", [],
                Self.conversation
            )
        }
    }

    public func importToken(_ token: TokenRecord) throws {
        try withConnection { db in
            try Self.unique("token \(token.name)") {
                _ = try db.execute(
                    """
                    INSERT INTO tokens (id, name, hash, created_at, last_used_at, expires_at, revoked_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    ON CONFLICT (id) DO UPDATE SET name = excluded.name, hash = excluded.hash, created_at = excluded.created_at,
                        last_used_at = excluded.last_used_at, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at
                    """,
                    Self.values(token)
                )
            }
            announceTokenChange(db)
        }
    }

    /// `text` as a TEXT column can hold it: U+0000 becomes U+FFFD. askd refuses U+0000 in the
    /// fields it keeps as TEXT, but a SQLite store being copied may hold it from before.
    private static func storable(_ text: String) -> String {
        text.contains("\u{0}") ? String(String.UnicodeScalarView(text.unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 })) : text
    }

    public func importConversation(_ conversation: Conversation, messages: [StoredMessage]) throws {
        try withConnection { db in
            try db.transaction {
                try db.execute("DELETE FROM conversations WHERE id = $1", [.text(conversation.id)])
                try db.execute(
                    """
                    INSERT INTO conversations (id, token_id, created_at, updated_at, title, system, model)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    """,
                    [
                        .text(conversation.id), .text(conversation.owner), .date(conversation.createdAt),
                        .date(conversation.updatedAt), .text(conversation.settings.title.map(Self.storable)),
                        .bytes(conversation.settings.system), .text(conversation.settings.model.map(Self.storable)),
                    ]
                )
                for message in messages {
                    try db.execute(
                        """
                        INSERT INTO messages
                            (conversation_id, seq, role, content, model, prompt_tokens, completion_tokens, total_tokens, created_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                        """,
                        [
                            .text(conversation.id), .integer(message.sequence), .text(message.role.rawValue), .bytes(message.content),
                            .text(message.model.map(Self.storable)), .integer(message.usage?.promptTokens),
                            .integer(message.usage?.completionTokens), .integer(message.usage?.totalTokens), .date(message.createdAt),
                        ]
                    )
                }
            }
        }
    }

    // MARK: Plumbing

    private static let tokenColumns = "id, name, hash, created_at, last_used_at, expires_at, revoked_at"

    private static func values(_ token: TokenRecord) -> [PostgresConnection.Value] {
        [
            .text(token.id), .text(token.name), .text(token.hash), .date(token.createdAt),
            .date(token.lastUsedAt), .date(token.expiresAt), .date(token.revokedAt),
        ]
    }

    private static func token(_ row: PostgresConnection.Row) -> TokenRecord {
        TokenRecord(
            id: row.text(0) ?? "", name: row.text(1) ?? "", hash: row.text(2) ?? "",
            createdAt: Date(milliseconds: row.integer(3) ?? 0), lastUsedAt: row.integer(4).map(Date.init(milliseconds:)),
            expiresAt: row.integer(5).map(Date.init(milliseconds:)), revokedAt: row.integer(6).map(Date.init(milliseconds:))
        )
    }

    /// The columns that `conversation(_:)` reads, in its order.
    private static let conversationColumns = "id, token_id, created_at, updated_at, title, system, model"

    private static func conversation(_ row: PostgresConnection.Row) -> Conversation {
        Conversation(
            id: row.text(0) ?? "", owner: row.text(1) ?? "",
            createdAt: Date(milliseconds: row.integer(2) ?? 0), updatedAt: Date(milliseconds: row.integer(3) ?? 0),
            settings: ConversationSettings(title: row.text(4), system: row.text(5), model: row.text(6))
        )
    }

    /// Runs `body`, turning a unique violation (SQLSTATE 23505) into `StoreError.duplicate`.
    private static func unique<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PostgresError where error.sqlState == "23505" {
            throw StoreError.duplicate(what)
        }
    }

    /// Runs the migration the store opened without. One thread tries at a time, and after a
    /// failure no thread tries again for a while (1 s after an outage, 10 s after another
    /// failure, such as a role that may not create tables): meanwhile callers get the store
    /// unavailable at once, with the reason, instead of queueing for connection attempts that
    /// each take up to the connect timeout.
    private func migrateIfPending() throws {
        let mine = try migration.withLock { attempts throws(StoreError) -> Bool in
            guard migrationPending.load(ordering: .acquiring) else { return false }
            if attempts.running { throw .unavailable("the schema is being migrated") }
            if let quietUntil = attempts.quietUntil, ContinuousClock.now < quietUntil { throw .unavailable(attempts.lastFailure) }
            attempts.running = true
            return true
        }
        guard mine else { return }
        do {
            try pool.withConnection { try PostgresMigrations.migrate($0) }
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

    /// Runs `body` with a connection from the pool, turning failures of the database itself
    /// into `StoreError.unavailable`.
    private func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        do {
            if migrationPending.load(ordering: .acquiring) { try migrateIfPending() }
            return try pool.withConnection(body)
        } catch let error as PostgresError where error.isUnavailability {
            throw StoreError.unavailable("\(error)")
        }
    }
}
