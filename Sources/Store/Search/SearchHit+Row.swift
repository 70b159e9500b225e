import FoundationEssentials

extension StoredColumns {
    /// What a SQL backend's page of search hits selects, in `SearchHit.init(row:snippet:)`'s
    /// order (then `extra`), from `page` (conversation_id, seq, created_at, score, ...) and the
    /// stored rows, in `SearchCursor`'s order.
    /// `ownerCheck`, a condition on the conversation `c`, checks the page's rows once more.
    package static func searchHits(from page: String, extra: String = "", ownerCheck: String = "TRUE", collation: String = "") -> String {
        """
        SELECT p.conversation_id, p.seq, p.created_at, p.score, c.title,
            (SELECT m.content FROM messages m WHERE m.conversation_id = p.conversation_id AND m.seq = 1 AND m.role = 'user'),
            (SELECT m.role FROM messages m WHERE m.conversation_id = p.conversation_id AND m.seq = p.seq)\(extra)
        FROM (\(page)) p JOIN conversations c ON c.id = p.conversation_id
        WHERE \(ownerCheck)
        ORDER BY p.score, p.created_at DESC, p.conversation_id\(collation) DESC, p.seq DESC
        """
    }
}

extension SearchHit {
    /// A row of `StoredColumns.searchHits(from:)`, with its snippet.
    package init(row: some StoredRow, snippet: String) {
        let sequence = Int(row.integer(1) ?? 0)
        self.init(
            conversationID: row.text(0) ?? "", title: row.text(4), firstPrompt: row.text(5), sequence: sequence > 0 ? sequence : nil,
            role: sequence > 0 ? row.text(6).flatMap(MessageRole.init(rawValue:)) : nil, snippet: snippet,
            createdAt: Date(milliseconds: row.integer(2) ?? 0), score: row.integer(3) ?? 0
        )
    }
}
