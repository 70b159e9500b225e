import FoundationEssentials
import Store

extension SQLiteStore {
    public func conversation(id: String, owner: String) throws -> Conversation? {
        try withConnection { db in
            try db.query(
                "SELECT \(StoredColumns.conversation) FROM conversations WHERE id = ? AND token_id = ?",
                [.text(id), .text(owner)], Conversation.init(row:)
            ).first
        }
    }

    public func messages(conversationID: String) throws -> [StoredMessage] {
        try withConnection { db in
            try db.query(
                "SELECT \(StoredColumns.message) FROM messages WHERE conversation_id = ? ORDER BY seq", [.text(conversationID)],
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
                        SELECT seq, length(CAST(content AS BLOB)) + COALESCE(length(CAST(model AS BLOB)), 0) AS size
                        FROM messages WHERE conversation_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3
                    )
                )
                SELECT \(StoredColumns.message) FROM messages
                WHERE conversation_id = ?1 AND seq IN (SELECT seq FROM page WHERE running <= ?4 OR n = 1)
                ORDER BY seq
                """,
                [.text(conversationID), .integer(Int64(sequence ?? Int.max)), .integer(Int64(limit)), .integer(Int64(maxBytes))],
                StoredMessage.init(row:)
            )
        }
    }

    public func conversationSummary(id: String, owner: String) throws -> ConversationSummary? {
        try withConnection { db in
            try db.query(
                StoredColumns.summaries(where: "c.id = ? AND c.token_id = ?"),
                [.text(id), .text(owner)], ConversationSummary.init(row:)
            ).first
        }
    }

    public func updateConversation(id: String, owner: String, change: ConversationSettingsChange) throws -> Conversation? {
        try withConnection { db in
            try db.writeTransaction {
                let found = try db.query(
                    "SELECT \(StoredColumns.conversation) FROM conversations WHERE id = ? AND token_id = ?", [.text(id), .text(owner)],
                    Conversation.init(row:)
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


    /// A page by keyset on `conversations_by_creation` (migration 4), in the index's order, so
    /// that nothing is sorted and the figures are looked up for the page's rows only.
    public func conversations(owner: String, limit: Int, after cursor: ConversationCursor?) throws -> [ConversationSummary] {
        guard limit > 0 else { return [] }
        // Past every conversation when there is no cursor: the same statement, and the same plan.
        let after = cursor.map { [SQLiteConnection.Value.date($0.createdAt), .text($0.id)] } ?? [.integer(Int64.max), .text("")]
        return try withConnection { db in
            try db.query(Self.conversationPage, [.text(owner)] + after + [.integer(Int64(limit))], ConversationSummary.init(row:))
        }
    }

    /// `?` the owner, `?, ?` the keyset (created_at, id) to start after, `?` the limit.
    static let conversationPage = StoredColumns.summaries(where: """
        c.token_id = ? AND (c.created_at, c.id) < (?, ?)
        ORDER BY c.created_at DESC, c.id DESC
        LIMIT ?
        """)

    public func deleteAllConversations(owner: String) throws -> Int {
        try withConnection { db in
            try db.writeTransaction {
                try db.execute("DELETE FROM conversations WHERE token_id = ?", [.text(owner)])
                return db.changes
            }
        }
    }

    static let insertMessage = """
        INSERT INTO messages (conversation_id, seq, role, content, model, prompt_tokens, completion_tokens, total_tokens, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    static func values(_ settings: ConversationSettings) -> [SQLiteConnection.Value] {
        [settings.title, settings.system, settings.model].map { $0.map { .text($0) } ?? .null }
    }
}
