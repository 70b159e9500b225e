import FoundationEssentials
import Store

extension PostgresStore {
    /// One statement, so one snapshot: the copy is of one moment. When it stores nothing, the
    /// reason is read afterwards.
    public func forkConversation(_ fork: ConversationFork) throws -> ForkOutcome {
        try withConnection { db in
            let forked = try db.query(
                Self.fork,
                [
                    .text(fork.conversationID), .text(fork.owner), .integer(fork.through), .text(fork.newID), .date(fork.date),
                    .text(fork.title.map(Self.storable)),
                ],
                Conversation.init(row:)
            )
            if let conversation = forked.first { return .forked(conversation) }
            let conversationExists = try db.query(
                "SELECT 1 FROM conversations WHERE id = $1 AND token_id = $2", [.text(fork.conversationID), .text(fork.owner)]
            ) { _ in true }.first != nil
            guard conversationExists else { return .conversationNotFound }
            let messageExists = try db.query(
                "SELECT 1 FROM messages WHERE conversation_id = $1 AND seq = $2", [.text(fork.conversationID), .integer(fork.through)]
            ) { _ in true }.first != nil
            guard messageExists else { return .messageNotFound }
            throw StoreError.duplicate("conversation \(fork.newID)")
        }
    }

    /// `$1` the original, `$2` the owner, `$3` the last message copied, `$4` the new id, `$5`
    /// the date, `$6` the new title (NULL keeps the original's). The messages reference the
    /// conversation inserted by the same statement, as a turn's do.
    private static let fork = """
        WITH source AS (
            SELECT title, system, model FROM conversations
            WHERE id = $1 AND token_id = $2 AND EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1 AND seq = $3)
        ), conversation AS (
            INSERT INTO conversations (id, token_id, created_at, updated_at, title, system, model)
            SELECT $4, $2, $5, $5, COALESCE($6, source.title), source.system, source.model FROM source
            ON CONFLICT (id) DO NOTHING
            RETURNING \(StoredColumns.conversation)
        ), copied AS (
            INSERT INTO messages
                (conversation_id, seq, role, content, model, prompt_tokens, completion_tokens, total_tokens, created_at)
            SELECT conversation.id, m.seq, m.role, m.content, m.model, m.prompt_tokens, m.completion_tokens, m.total_tokens, m.created_at
            FROM conversation, messages m WHERE m.conversation_id = $1 AND m.seq <= $3
        ), versions AS (
            INSERT INTO message_versions (conversation_id, version, \(StoredColumns.messageVersion))
            SELECT conversation.id, v.version, v.seq, v.content, v.model, v.prompt_tokens, v.completion_tokens, v.total_tokens, v.created_at
            FROM conversation, message_versions v WHERE v.conversation_id = $1 AND v.seq <= $3
        )
        SELECT \(StoredColumns.conversation) FROM conversation
        """
}
