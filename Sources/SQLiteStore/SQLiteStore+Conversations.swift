import FoundationEssentials
import Store

extension SQLiteStore {
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

    static let insertMessage = """
        INSERT INTO messages (conversation_id, seq, role, content, model, prompt_tokens, completion_tokens, total_tokens, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    static let conversationColumns = "id, token_id, created_at, updated_at, title, system, model"

    private static let messageColumns = "seq, role, content, model, prompt_tokens, completion_tokens, total_tokens, created_at"

    /// A row that starts with `messageColumns`.
    static func message(_ row: SQLiteConnection.Row) -> StoredMessage {
        let usage = row.integer(4).map { prompt in
            TokenUsage(promptTokens: Int(prompt), completionTokens: Int(row.integer(5) ?? 0), totalTokens: Int(row.integer(6) ?? 0))
        }
        return StoredMessage(
            sequence: Int(row.integer(0) ?? 0), role: MessageRole(rawValue: row.text(1) ?? "") ?? .user,
            content: row.text(2) ?? "", model: row.text(3), usage: usage, createdAt: Date(milliseconds: row.integer(7) ?? 0)
        )
    }

    /// A row that starts with `conversationColumns`.
    static func conversation(_ row: SQLiteConnection.Row) -> Conversation {
        Conversation(
            id: row.text(0) ?? "", owner: row.text(1) ?? "",
            createdAt: Date(milliseconds: row.integer(2) ?? 0), updatedAt: Date(milliseconds: row.integer(3) ?? 0),
            settings: ConversationSettings(title: row.text(4), system: row.text(5), model: row.text(6))
        )
    }

    static func values(_ settings: ConversationSettings) -> [SQLiteConnection.Value] {
        [settings.title, settings.system, settings.model].map { $0.map { .text($0) } ?? .null }
    }
}
