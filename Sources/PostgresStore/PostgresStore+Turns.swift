import FoundationEssentials
import Store

extension PostgresStore {
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
        // After the turn's own statement: a failure here leaves the turn stored, and the slot to
        // its lease.
        if let ticket = turn.admission {
            finishAdmission(ticket, tokens: turn.usage.map { $0.promptTokens + $0.completionTokens } ?? 0, counted: true, at: turn.date)
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
    /// wait for each other anyway, on its turn lock). BENCHMARKS.md has the server's CPU per turn
    /// with one row and with 16.
    static let usageShards = 16

    /// The usage row of a turn of `conversation`: a hash (seeded per process, so hosts differ,
    /// which is fine) rather than a random number, which would cost a getrandom(2) per turn.
    static func usageShard(for conversation: String) -> Int {
        Int(UInt(bitPattern: conversation.hashValue) % UInt(usageShards))
    }

    /// The turn's usage added to its token's row for the day and shard, once `conversation`
    /// (empty when the conversation is not there) has a row.
    private static let addUsage = """
        usage AS (
            INSERT INTO usage_daily (token_id, day, shard, requests, prompt_tokens, completion_tokens)
            SELECT $2, $10, $11, 1, COALESCE($7, 0), COALESCE($8, 0) FROM conversation
            ON CONFLICT (token_id, day, shard) DO UPDATE SET requests = usage_daily.requests + 1,
                prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
                completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens
        )
        """

    private static let startTurn = """
        WITH conversation AS (
            INSERT INTO conversations (id, token_id, created_at, updated_at, title, system, model)
            VALUES ($1, $2, $3, $3, $12, $13, $14)
            ON CONFLICT (id) DO NOTHING
            RETURNING id
        ), last AS (
            SELECT 0 AS seq
        ),
        """ + "\n" + addUsage + "\n" + insertTurnMessages

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
            ),
            """ + "\n" + addUsage + "\n" + insertTurnMessages
    }
}
