import FoundationEssentials
import Store

extension PostgresStore {
    public func conversation(id: String, owner: String) throws -> Conversation? {
        try withConnection { db in
            try db.query(
                "SELECT \(StoredColumns.conversation) FROM conversations WHERE id = $1 AND token_id = $2",
                [.text(id), .text(owner)], Conversation.init(row:)
            ).first
        }
    }

    public func messages(conversationID: String) throws -> [StoredMessage] {
        try withConnection { db in
            try db.query(
                "SELECT \(StoredColumns.message) FROM messages WHERE conversation_id = $1 ORDER BY seq", [.text(conversationID)],
                StoredMessage.init(row:)
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
                SELECT \(StoredColumns.message) FROM messages
                WHERE conversation_id = $1 AND seq IN (SELECT seq FROM page WHERE running <= $4 OR n = 1)
                ORDER BY seq
                """,
                [.text(conversationID), .integer(sequence ?? Int.max), .integer(limit), .integer(maxBytes)], StoredMessage.init(row:)
            )
        }
    }

    public func conversationSummary(id: String, owner: String) throws -> ConversationSummary? {
        try withConnection { db in
            try db.query(
                StoredColumns.summaries(where: "c.id = $1 AND c.token_id = $2"),
                [.text(id), .text(owner)], ConversationSummary.init(row:)
            ).first
        }
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
                RETURNING \(StoredColumns.conversation)
                """,
                [
                    .text(id), .text(owner),
                    .boolean(change.title != nil), .text(change.title ?? nil),
                    .boolean(change.system != nil), .bytes(change.system ?? nil),
                    .boolean(change.model != nil), .text(change.model ?? nil),
                ],
                Conversation.init(row:)
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
                    [.text(owner), .integer(limit), .date(cursor.createdAt), .text(cursor.id)], ConversationSummary.init(row:)
                )
            }
            return try db.query(Self.conversationPage, [.text(owner), .integer(limit)], ConversationSummary.init(row:))
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
        StoredColumns.summaries(where: """
            c.token_id = $1\(keyset)
            ORDER BY c.created_at DESC, c.id COLLATE "C" DESC
            LIMIT $2
            """)
    }

    static let conversationPage = conversationPage(keyset: "")

    static let conversationPageAfter = conversationPage(
        keyset: " AND (c.created_at, c.id COLLATE \"C\") < ($3, $4)"
    )
}
