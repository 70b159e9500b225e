import FoundationEssentials

/// The column lists that the records' `init(row:)` read, in their order; dates are stored as
/// milliseconds since 1970.
package enum StoredColumns {
    package static let token =
        "id, name, hash, created_at, last_used_at, expires_at, revoked_at, rpm, tpm, tokens_per_day, max_parallel, models"
    package static let conversation = "id, token_id, created_at, updated_at, title, system, model"
    package static let message = "seq, role, content, model, prompt_tokens, completion_tokens, total_tokens, created_at"
}

extension TokenRecord {
    /// A row that starts with `StoredColumns.token`.
    package init(row: some StoredRow) {
        self.init(
            id: row.text(0) ?? "", name: row.text(1) ?? "", hash: row.text(2) ?? "",
            createdAt: Date(milliseconds: row.integer(3) ?? 0), lastUsedAt: row.integer(4).map(Date.init(milliseconds:)),
            expiresAt: row.integer(5).map(Date.init(milliseconds:)), revokedAt: row.integer(6).map(Date.init(milliseconds:)),
            limits: TokenLimits(
                requestsPerMinute: row.integer(7).map(Int.init), tokensPerMinute: row.integer(8).map(Int.init),
                tokensPerDay: row.integer(9).map(Int.init), maxParallel: row.integer(10).map(Int.init),
                models: TokenLimits.models(stored: row.text(11))
            )
        )
    }
}

extension Conversation {
    /// A row that starts with `StoredColumns.conversation`.
    package init(row: some StoredRow) {
        self.init(
            id: row.text(0) ?? "", owner: row.text(1) ?? "",
            createdAt: Date(milliseconds: row.integer(2) ?? 0), updatedAt: Date(milliseconds: row.integer(3) ?? 0),
            settings: ConversationSettings(title: row.text(4), system: row.text(5), model: row.text(6))
        )
    }
}

extension StoredMessage {
    /// A row that starts with `StoredColumns.message`.
    package init(row: some StoredRow) {
        let usage = row.integer(4).map { prompt in
            TokenUsage(promptTokens: Int(prompt), completionTokens: Int(row.integer(5) ?? 0), totalTokens: Int(row.integer(6) ?? 0))
        }
        self.init(
            sequence: Int(row.integer(0) ?? 0), role: MessageRole(rawValue: row.text(1) ?? "") ?? .user,
            content: row.text(2) ?? "", model: row.text(3), usage: usage, createdAt: Date(milliseconds: row.integer(7) ?? 0)
        )
    }
}

extension ConversationSummary {
    /// A row of `StoredColumns.conversation`, then the message count, the first prompt and the
    /// last model.
    package init(row: some StoredRow) {
        self.init(conversation: Conversation(row: row), messageCount: Int(row.integer(7) ?? 0), firstPrompt: row.text(8), lastModel: row.text(9))
    }
}

extension StoredColumns {
    /// The conversations that `clause` selects, as `ConversationSummary(row:)` reads them: each
    /// figure is an indexed lookup on the messages' primary key, made for each row returned, and
    /// the count is the last sequence number, since numbers have no gaps.
    package static func summaries(where clause: String) -> String {
        """
        SELECT c.id, c.token_id, c.created_at, c.updated_at, c.title, c.system, c.model,
            (SELECT MAX(m.seq) FROM messages m WHERE m.conversation_id = c.id),
            (SELECT m.content FROM messages m WHERE m.conversation_id = c.id AND m.seq = 1 AND m.role = 'user'),
            (SELECT m.model FROM messages m WHERE m.conversation_id = c.id AND m.role = 'assistant' ORDER BY m.seq DESC LIMIT 1)
        FROM conversations c
        WHERE \(clause)
        """
    }
}
