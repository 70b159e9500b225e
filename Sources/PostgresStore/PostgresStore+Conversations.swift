import FoundationEssentials
import Store

extension PostgresStore {
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

    static func message(_ row: PostgresConnection.Row) -> StoredMessage {
        let usage = row.integer(4).map { prompt in
            TokenUsage(promptTokens: Int(prompt), completionTokens: Int(row.integer(5) ?? 0), totalTokens: Int(row.integer(6) ?? 0))
        }
        return StoredMessage(
            sequence: Int(row.integer(0) ?? 0), role: MessageRole(rawValue: row.text(1) ?? "") ?? .user,
            content: row.text(2) ?? "", model: row.text(3), usage: usage, createdAt: Date(milliseconds: row.integer(7) ?? 0)
        )
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

    /// The columns that `conversation(_:)` reads, in its order.
    static let conversationColumns = "id, token_id, created_at, updated_at, title, system, model"

    static func conversation(_ row: PostgresConnection.Row) -> Conversation {
        Conversation(
            id: row.text(0) ?? "", owner: row.text(1) ?? "",
            createdAt: Date(milliseconds: row.integer(2) ?? 0), updatedAt: Date(milliseconds: row.integer(3) ?? 0),
            settings: ConversationSettings(title: row.text(4), system: row.text(5), model: row.text(6))
        )
    }
}
