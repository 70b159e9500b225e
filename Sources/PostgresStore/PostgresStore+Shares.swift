import FoundationEssentials
import Store

extension PostgresStore {
    /// The share row and its messages, copied from the conversation's, in one transaction.
    public func createShare(_ share: Share) throws -> Bool {
        try withConnection { db in
            try Self.unique("share \(share.id)") {
                try db.transaction {
                    let created = try db.execute(
                        """
                        INSERT INTO shares (id, token_id, conversation_id, title, created_at, expires_at)
                        SELECT $1, token_id, id, title, $2, $3 FROM conversations WHERE id = $4 AND token_id = $5
                        """,
                        [.text(share.id), .date(share.createdAt), .date(share.expiresAt), .text(share.conversationID), .text(share.owner)]
                    )
                    guard created == 1 else { return false }
                    try db.execute(
                        """
                        INSERT INTO share_messages (share_id, seq, role, content, created_at)
                        SELECT $1, seq, role, content, created_at FROM messages WHERE conversation_id = $2
                        """,
                        [.text(share.id), .text(share.conversationID)]
                    )
                    return true
                }
            }
        }
    }

    public func shares(owner: String) throws -> [Share] {
        try withConnection { db in
            try db.query(
                "SELECT \(StoredColumns.share) FROM shares WHERE token_id = $1 ORDER BY created_at DESC, id COLLATE \"C\" DESC",
                [.text(owner)], Share.init(row:)
            )
        }
    }

    public func deleteShare(id: String, owner: String) throws -> Bool {
        try withConnection { db in
            try db.execute("DELETE FROM shares WHERE id = $1 AND token_id = $2", [.text(id), .text(owner)]) == 1
        }
    }

    /// One statement, so that the share and its messages are read from one snapshot.
    public func sharedConversation(id: String, at date: Date) throws -> SharedConversation? {
        let rows = try withConnection { db in
            try db.query(StoredColumns.sharedConversation(id: "$1", date: "$2"), [.text(id), .date(date)], SharedRow.init(row:))
        }
        return SharedRow.conversation(of: rows)
    }

    /// Inserts, never replaces: an id that is taken rolls the whole batch back.
    public func insertConversations(_ conversations: [ImportedConversation]) throws {
        try withConnection { db in
            try db.transaction {
                for item in conversations {
                    let conversation = item.conversation
                    try Self.unique("conversation \(conversation.id)") {
                        _ = try db.execute(
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
                    }
                    for message in item.messages {
                        _ = try db.execute(
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
                    try Self.insertVersions(item.versions, conversationID: conversation.id, on: db)
                }
            }
        }
    }
}
