import FoundationEssentials
import Store

extension PostgresStore {
    /// One transaction. The lock's lease row and the conversation's row are locked first, so
    /// that neither a takeover nor another turn can come between the check and the commit.
    public func replaceLastAnswer(_ regeneration: Regeneration) throws {
        try withConnection { db in
            try db.transaction { try Self.replace(regeneration, on: db) }
        }
        // After the transaction, as for a turn: a failure here leaves the answer stored, and the
        // slot to its lease.
        if let ticket = regeneration.admission {
            let usage = regeneration.usage
            finishAdmission(ticket, tokens: usage.map { $0.promptTokens + $0.completionTokens } ?? 0, counted: true, at: regeneration.date)
        }
    }

    public func previousVersions(conversationID: String, sequences: ClosedRange<Int>) throws -> [Int: [MessageVersion]] {
        try withConnection { db in
            let rows = try db.query(
                """
                SELECT \(StoredColumns.messageVersion) FROM message_versions
                WHERE conversation_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq, version
                """,
                [.text(conversationID), .integer(sequences.lowerBound), .integer(sequences.upperBound)]
            ) { row in (sequence: Int(row.integer(0) ?? 0), version: MessageVersion(row: row)) }
            return [Int: [MessageVersion]](versionRows: rows)
        }
    }

    private static func replace(_ regeneration: Regeneration, on db: PostgresConnection) throws {
        let id = regeneration.conversationID
        if let lock = regeneration.lock {
            let held = try db.query(
                "SELECT 1 FROM turn_locks WHERE conversation_id = $1 AND holder = $2 FOR UPDATE", [.text(lock.conversationID), .text(lock.holder)]
            ) { _ in true }
            guard !held.isEmpty else { throw StoreError.turnLockLost(id) }
        }
        let touched = try db.execute(
            "UPDATE conversations SET updated_at = $3 WHERE id = $1 AND token_id = $2",
            [.text(id), .text(regeneration.owner), .date(regeneration.date)]
        )
        guard touched == 1 else { throw StoreError.conversationNotFound(id) }
        let last = try db.query(
            "SELECT seq, role FROM messages WHERE conversation_id = $1 ORDER BY seq DESC LIMIT 1", [.text(id)]
        ) { row in (sequence: Int(row.integer(0) ?? 0), role: row.text(1)) }.first
        guard let last, last.sequence == regeneration.sequence, last.role == MessageRole.assistant.rawValue else {
            throw StoreError.conversationNotFound(id)
        }
        let message: [PostgresConnection.Value] = [.text(id), .integer(regeneration.sequence)]
        _ = try db.execute(
            """
            INSERT INTO message_versions (conversation_id, version, \(StoredColumns.messageVersion))
            SELECT conversation_id,
                (SELECT COALESCE(MAX(version), 0) + 1 FROM message_versions v WHERE v.conversation_id = m.conversation_id AND v.seq = m.seq),
                \(StoredColumns.messageVersion)
            FROM messages m WHERE conversation_id = $1 AND seq = $2
            """,
            message
        )
        let usage = regeneration.usage
        _ = try db.execute(
            """
            UPDATE messages SET content = $3, model = $4, prompt_tokens = $5, completion_tokens = $6, total_tokens = $7, created_at = $8
            WHERE conversation_id = $1 AND seq = $2
            """,
            message + [
                .bytes(regeneration.answer), .text(storable(regeneration.model)), .integer(usage?.promptTokens),
                .integer(usage?.completionTokens), .integer(usage?.totalTokens), .date(regeneration.date),
            ]
        )
        _ = try db.execute(
            """
            INSERT INTO usage_daily (token_id, day, shard, requests, prompt_tokens, completion_tokens) VALUES ($1, $2, $3, 1, $4, $5)
            ON CONFLICT (token_id, day, shard) DO UPDATE SET requests = usage_daily.requests + 1,
                prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
                completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens
            """,
            [
                .text(regeneration.owner), .text(regeneration.date.usageDay), .integer(usageShard(for: id)),
                .integer(usage?.promptTokens ?? 0), .integer(usage?.completionTokens ?? 0),
            ]
        )
    }
}
