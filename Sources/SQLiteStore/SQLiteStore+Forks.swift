import FoundationEssentials
import Store

extension SQLiteStore {
    /// One write transaction: the original is read and its messages and their versions copied
    /// under the write lock, so the copy is of one moment.
    public func forkConversation(_ fork: ConversationFork) throws -> ForkOutcome {
        try withConnection { db in
            try db.writeTransaction {
                let found = try db.query(
                    "SELECT \(StoredColumns.conversation) FROM conversations WHERE id = ? AND token_id = ?",
                    [.text(fork.conversationID), .text(fork.owner)], Conversation.init(row:)
                )
                guard var conversation = found.first else { return .conversationNotFound }
                let through = try db.query(
                    "SELECT 1 FROM messages WHERE conversation_id = ? AND seq = ?", [.text(fork.conversationID), .integer(Int64(fork.through))]
                ) { _ in true }
                guard !through.isEmpty else { return .messageNotFound }
                conversation.id = fork.newID
                conversation.createdAt = fork.date
                conversation.updatedAt = fork.date
                if let title = fork.title { conversation.settings.title = title }
                try db.execute(
                    """
                    INSERT INTO conversations (id, token_id, created_at, updated_at, title, system, model) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO NOTHING
                    """,
                    [.text(fork.newID), .text(fork.owner), .date(fork.date), .date(fork.date)] + Self.values(conversation.settings)
                )
                guard db.changes == 1 else { throw StoreError.duplicate("conversation \(fork.newID)") }
                let copy: [SQLiteConnection.Value] = [.text(fork.newID), .text(fork.conversationID), .integer(Int64(fork.through))]
                try db.execute(
                    """
                    INSERT INTO messages (conversation_id, seq, role, content, model, prompt_tokens, completion_tokens, total_tokens, created_at)
                    SELECT ?, seq, role, content, model, prompt_tokens, completion_tokens, total_tokens, created_at
                    FROM messages WHERE conversation_id = ? AND seq <= ? ORDER BY seq
                    """,
                    copy
                )
                try db.execute(
                    """
                    INSERT INTO message_versions (conversation_id, version, \(StoredColumns.messageVersion))
                    SELECT ?, version, \(StoredColumns.messageVersion)
                    FROM message_versions WHERE conversation_id = ? AND seq <= ? ORDER BY seq, version
                    """,
                    copy
                )
                return .forked(conversation)
            }
        }
    }
}
