import FoundationEssentials
import Store

extension PostgresStore {
    public func allConversations() throws -> [Conversation] {
        try withConnection { db in
            try db.query(
                "SELECT \(StoredColumns.conversation) FROM conversations ORDER BY created_at, id COLLATE \"C\"", [],
                Conversation.init(row:)
            )
        }
    }

    public func importToken(_ token: TokenRecord) throws {
        try withConnection { db in
            try Self.unique("token \(token.name)") {
                _ = try db.execute(
                    """
                    INSERT INTO tokens (\(StoredColumns.token))
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                    ON CONFLICT (id) DO UPDATE SET name = excluded.name, hash = excluded.hash, created_at = excluded.created_at,
                        last_used_at = excluded.last_used_at, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at,
                        rpm = excluded.rpm, tpm = excluded.tpm, tokens_per_day = excluded.tokens_per_day,
                        max_parallel = excluded.max_parallel, models = excluded.models
                    """,
                    Self.values(token)
                )
            }
            announceTokenChange(db)
        }
    }

    /// `text` as a TEXT column can hold it: U+0000 becomes U+FFFD. askd refuses U+0000 in the
    /// fields it keeps as TEXT, but a SQLite store being copied may hold it from before.
    static func storable(_ text: String) -> String {
        text.contains("\u{0}") ? String(String.UnicodeScalarView(text.unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 })) : text
    }

    public func importConversation(_ conversation: Conversation, messages: [StoredMessage], versions: [Int: [MessageVersion]]) throws {
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
                try Self.insertVersions(versions, conversationID: conversation.id, on: db)
            }
        }
    }

    /// Stores previous versions, numbered from 1 for each message in the order given.
    static func insertVersions(_ versions: [Int: [MessageVersion]], conversationID: String, on db: PostgresConnection) throws {
        for (sequence, list) in versions {
            for (index, version) in list.enumerated() {
                _ = try db.execute(
                    "INSERT INTO message_versions (conversation_id, version, \(StoredColumns.messageVersion)) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    [
                        .text(conversationID), .integer(index + 1), .integer(sequence), .bytes(version.content),
                        .text(version.model.map(Self.storable)), .integer(version.usage?.promptTokens),
                        .integer(version.usage?.completionTokens), .integer(version.usage?.totalTokens), .date(version.createdAt),
                    ]
                )
            }
        }
    }
}
