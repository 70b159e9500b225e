import FoundationEssentials
import Store

extension SQLiteStore {
    public func allConversations() throws -> [Conversation] {
        try withConnection { db in
            try db.query("SELECT \(StoredColumns.conversation) FROM conversations ORDER BY created_at, id", [], Conversation.init(row:))
        }
    }

    public func importToken(_ token: TokenRecord) throws {
        defer { tokenGeneration.change() }
        try withConnection { db in
            try db.writeTransaction {
                let taken = try db.query("SELECT 1 FROM tokens WHERE id <> ? AND (name = ? OR hash = ?)", [
                    .text(token.id), .text(token.name), .text(token.hash),
                ]) { _ in true }
                guard taken.isEmpty else { throw StoreError.duplicate("token \(token.name)") }
                try db.execute(
                    """
                    INSERT INTO tokens (\(StoredColumns.token)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET name = excluded.name, hash = excluded.hash, created_at = excluded.created_at,
                        last_used_at = excluded.last_used_at, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at,
                        rpm = excluded.rpm, tpm = excluded.tpm, tokens_per_day = excluded.tokens_per_day,
                        max_parallel = excluded.max_parallel, models = excluded.models
                    """,
                    Self.values(token)
                )
            }
        }
    }

    public func importConversation(_ conversation: Conversation, messages: [StoredMessage], versions: [Int: [MessageVersion]]) throws {
        try withConnection { db in
            try db.writeTransaction {
                try db.execute("DELETE FROM conversations WHERE id = ?", [.text(conversation.id)])
                try db.execute(
                    "INSERT INTO conversations (id, token_id, created_at, updated_at, title, system, model) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [.text(conversation.id), .text(conversation.owner), .date(conversation.createdAt), .date(conversation.updatedAt)]
                        + Self.values(conversation.settings)
                )
                for message in messages {
                    try db.execute(Self.insertMessage, [
                        .text(conversation.id), .integer(Int64(message.sequence)), .text(message.role.rawValue), .text(message.content),
                        message.model.map { .text($0) } ?? .null, .integer(message.usage?.promptTokens),
                        .integer(message.usage?.completionTokens), .integer(message.usage?.totalTokens), .date(message.createdAt),
                    ])
                }
                try Self.insertVersions(versions, conversationID: conversation.id, on: db)
            }
        }
    }

    /// Stores previous versions, numbered from 1 for each message in the order given.
    static func insertVersions(_ versions: [Int: [MessageVersion]], conversationID: String, on db: SQLiteConnection) throws {
        for (sequence, list) in versions {
            for (index, version) in list.enumerated() {
                try db.execute(
                    "INSERT INTO message_versions (conversation_id, version, \(StoredColumns.messageVersion)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        .text(conversationID), .integer(index + 1), .integer(sequence), .text(version.content),
                        version.model.map { .text($0) } ?? .null, .integer(version.usage?.promptTokens),
                        .integer(version.usage?.completionTokens), .integer(version.usage?.totalTokens), .date(version.createdAt),
                    ]
                )
            }
        }
    }
}
