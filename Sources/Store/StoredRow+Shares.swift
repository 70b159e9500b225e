import FoundationEssentials

extension StoredColumns {
    package static let share = "id, token_id, conversation_id, created_at, expires_at"

    /// A share's title and date with each of its messages (or one row of NULLs for none), if the
    /// share is readable at `date`: not expired, and its owner's token not revoked. `id` and
    /// `date` are the statement's placeholders.
    /// A share's title and date with each of its messages, whether it can be read now or not.
    package static func shareSnapshot(id: String) -> String {
        """
        SELECT s.title, s.created_at, m.seq, m.role, m.content, m.created_at
        FROM shares s LEFT JOIN share_messages m ON m.share_id = s.id
        WHERE s.id = \(id)
        ORDER BY m.seq
        """
    }

    package static func sharedConversation(id: String, date: String) -> String {
        """
        SELECT s.title, s.created_at, m.seq, m.role, m.content, m.created_at
        FROM shares s LEFT JOIN share_messages m ON m.share_id = s.id
        WHERE s.id = \(id) AND (s.expires_at IS NULL OR s.expires_at > \(date))
            AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.id = s.token_id AND t.revoked_at IS NOT NULL)
        ORDER BY m.seq
        """
    }
}

extension Share {
    /// A row that starts with `StoredColumns.share`.
    package init(row: some StoredRow) {
        self.init(
            id: row.text(0) ?? "", owner: row.text(1) ?? "", conversationID: row.text(2) ?? "",
            createdAt: Date(milliseconds: row.integer(3) ?? 0), expiresAt: row.integer(4).map(Date.init(milliseconds:))
        )
    }
}

/// One row of `StoredColumns.sharedConversation`.
package struct SharedRow {
    let title: String?
    let sharedAt: Date
    let message: StoredMessage?

    package init(row: some StoredRow) {
        title = row.text(0)
        sharedAt = Date(milliseconds: row.integer(1) ?? 0)
        message = row.integer(2).map { sequence in
            StoredMessage(
                sequence: Int(sequence), role: MessageRole(rawValue: row.text(3) ?? "") ?? .user, content: row.text(4) ?? "",
                createdAt: Date(milliseconds: row.integer(5) ?? 0)
            )
        }
    }

    /// The snapshot the rows make; nil for no rows (no readable share).
    package static func conversation(of rows: [SharedRow]) -> SharedConversation? {
        guard let first = rows.first else { return nil }
        return SharedConversation(title: first.title, sharedAt: first.sharedAt, messages: rows.compactMap(\.message))
    }
}
