import FoundationEssentials
import Store

extension SQLiteStore {
    /// The share row and its messages, copied from the conversation's, in one transaction.
    public func createShare(_ share: Share) throws -> Bool {
        try withConnection { db in
            try db.writeTransaction {
                let taken = try db.query("SELECT 1 FROM shares WHERE id = ?", [.text(share.id)]) { _ in true }
                guard taken.isEmpty else { throw StoreError.duplicate("share \(share.id)") }
                try db.execute(
                    """
                    INSERT INTO shares (id, token_id, conversation_id, title, created_at, expires_at)
                    SELECT ?, token_id, id, title, ?, ? FROM conversations WHERE id = ? AND token_id = ?
                    """,
                    [.text(share.id), .date(share.createdAt), .date(share.expiresAt), .text(share.conversationID), .text(share.owner)]
                )
                guard db.changes == 1 else { return false }
                try db.execute(
                    """
                    INSERT INTO share_messages (share_id, seq, role, content, created_at)
                    SELECT ?, seq, role, content, created_at FROM messages WHERE conversation_id = ?
                    """,
                    [.text(share.id), .text(share.conversationID)]
                )
                return true
            }
        }
    }

    public func shares(owner: String) throws -> [Share] {
        try withConnection { db in
            try db.query(
                "SELECT \(StoredColumns.share) FROM shares WHERE token_id = ? ORDER BY created_at DESC, id DESC", [.text(owner)],
                Share.init(row:)
            )
        }
    }

    public func deleteShare(id: String, owner: String) throws -> Bool {
        try withConnection { db in
            try db.writeTransaction {
                try db.execute("DELETE FROM shares WHERE id = ? AND token_id = ?", [.text(id), .text(owner)])
                return db.changes == 1
            }
        }
    }

    /// One statement, so that the share and its messages are read from one snapshot.
    public func sharedConversation(id: String, at date: Date) throws -> SharedConversation? {
        let rows = try withConnection { db in
            try db.query(StoredColumns.sharedConversation(id: "?1", date: "?2"), [.text(id), .date(date)], SharedRow.init(row:))
        }
        return SharedRow.conversation(of: rows)
    }

    /// Inserts, never replaces: an id that is taken rolls the whole batch back.
    public func insertConversations(_ conversations: [ImportedConversation]) throws {
        try withConnection { db in
            try db.writeTransaction {
                for item in conversations {
                    let conversation = item.conversation
                    try db.execute(
                        """
                        INSERT INTO conversations (id, token_id, created_at, updated_at, title, system, model) VALUES (?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (id) DO NOTHING
                        """,
                        [.text(conversation.id), .text(conversation.owner), .date(conversation.createdAt), .date(conversation.updatedAt)]
                            + Self.values(conversation.settings)
                    )
                    guard db.changes == 1 else { throw StoreError.duplicate("conversation \(conversation.id)") }
                    for message in item.messages {
                        try db.execute(Self.insertMessage, [
                            .text(conversation.id), .integer(Int64(message.sequence)), .text(message.role.rawValue), .text(message.content),
                            message.model.map { .text($0) } ?? .null, .integer(message.usage?.promptTokens),
                            .integer(message.usage?.completionTokens), .integer(message.usage?.totalTokens), .date(message.createdAt),
                        ])
                    }
                    try Self.insertVersions(item.versions, conversationID: conversation.id, on: db)
                }
            }
        }
    }
}
