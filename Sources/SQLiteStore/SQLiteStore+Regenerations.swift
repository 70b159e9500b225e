import FoundationEssentials
import Store

extension SQLiteStore {
    /// One write transaction: the lock and the last message are checked, the replaced answer
    /// becomes a version, and the new one, the conversation's date, the usage and the ticket
    /// are written.
    public func replaceLastAnswer(_ regeneration: Regeneration) throws {
        try withConnection { db in
            try db.writeTransaction { try Self.replace(regeneration, on: db) }
        }
        if let slot = regeneration.admission?.slot { slotLeases.forget(slot) }
    }

    public func previousVersions(conversationID: String, sequences: ClosedRange<Int>) throws -> [Int: [MessageVersion]] {
        try withConnection { db in
            let rows = try db.query(
                """
                SELECT \(StoredColumns.messageVersion) FROM message_versions
                WHERE conversation_id = ? AND seq BETWEEN ? AND ? ORDER BY seq, version
                """,
                [.text(conversationID), .integer(Int64(sequences.lowerBound)), .integer(Int64(sequences.upperBound))]
            ) { row in (sequence: Int(row.integer(0) ?? 0), version: MessageVersion(row: row)) }
            return [Int: [MessageVersion]](versionRows: rows)
        }
    }

    private static func replace(_ regeneration: Regeneration, on db: SQLiteConnection) throws {
        let id = regeneration.conversationID
        if let lock = regeneration.lock {
            let held = try db.query(
                "SELECT 1 FROM turn_locks WHERE conversation_id = ? AND holder = ?", [.text(lock.conversationID), .text(lock.holder)]
            ) { _ in true }
            guard !held.isEmpty else { throw StoreError.turnLockLost(id) }
        }
        try db.execute(
            "UPDATE conversations SET updated_at = ? WHERE id = ? AND token_id = ?",
            [.date(regeneration.date), .text(id), .text(regeneration.owner)]
        )
        guard db.changes == 1 else { throw StoreError.conversationNotFound(id) }
        let last = try db.query(
            "SELECT seq, role FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT 1", [.text(id)]
        ) { row in (sequence: Int(row.integer(0) ?? 0), role: row.text(1)) }.first
        guard let last, last.sequence == regeneration.sequence, last.role == MessageRole.assistant.rawValue else {
            throw StoreError.conversationNotFound(id)
        }
        let message: [SQLiteConnection.Value] = [.text(id), .integer(Int64(regeneration.sequence))]
        try db.execute(
            """
            INSERT INTO message_versions (conversation_id, version, \(StoredColumns.messageVersion))
            SELECT conversation_id,
                (SELECT COALESCE(MAX(version), 0) + 1 FROM message_versions v WHERE v.conversation_id = m.conversation_id AND v.seq = m.seq),
                \(StoredColumns.messageVersion)
            FROM messages m WHERE conversation_id = ? AND seq = ?
            """,
            message
        )
        let usage = regeneration.usage
        try db.execute(
            """
            UPDATE messages SET content = ?, model = ?, prompt_tokens = ?, completion_tokens = ?, total_tokens = ?, created_at = ?
            WHERE conversation_id = ? AND seq = ?
            """,
            [
                .text(regeneration.answer), .text(regeneration.model), .integer(usage?.promptTokens), .integer(usage?.completionTokens),
                .integer(usage?.totalTokens), .date(regeneration.date),
            ] + message
        )
        try db.execute(
            """
            INSERT INTO usage_daily (token_id, day, requests, prompt_tokens, completion_tokens) VALUES (?, ?, 1, ?, ?)
            ON CONFLICT (token_id, day) DO UPDATE SET requests = requests + 1,
                prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens
            """,
            [.text(regeneration.owner), .text(regeneration.date.usageDay), .integer(usage?.promptTokens ?? 0), .integer(usage?.completionTokens ?? 0)]
        )
        if let ticket = regeneration.admission {
            try finish(ticket, tokens: usage.map { $0.promptTokens + $0.completionTokens } ?? 0, counted: true, at: regeneration.date, on: db)
        }
    }
}
