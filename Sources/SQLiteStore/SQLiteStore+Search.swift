import FoundationEssentials
import Store

extension SQLiteStore {
    /// Ranks the owner's range of rowids in `search_index` (`SQLiteSearchSchema`) by bm25,
    /// takes the page after `cursor`, then reads the page's rows and makes a snippet for each
    /// of its hits only.
    public func search(owner: String, query: SearchQuery, limit: Int, after cursor: SearchCursor?) throws -> [SearchHit] {
        guard limit > 0 else { return [] }
        let match = query.fts5Match
        // Before every hit when there is no cursor: no score is that low.
        let after = cursor ?? SearchCursor(score: .min, createdAt: .latestStored, conversationID: "", sequence: 0)
        return try withConnection { db in
            // Every change committed before the search is found by it. A database that cannot
            // take the write now (another process holds it past the busy timeout) is searched
            // as it is indexed; the indexer catches up later.
            try? SearchIndexer.indexQueue(on: db)
            let numbers = try db.query("SELECT number FROM search_owners WHERE token_id = ?", [.text(owner)]) { $0.integer(0) }
            guard let number = numbers.first ?? nil else { return [] }
            let first = number << SQLiteSearchSchema.ownerShift
            let rows = try db.query(Self.searchPage, [
                .text(match), .integer(after.score), .date(after.createdAt), .text(after.conversationID), .integer(Int64(after.sequence)),
                .integer(Int64(limit)), .integer(first), .integer(first | (1 << SQLiteSearchSchema.ownerShift - 1)),
            ]) { row in (row: SearchHit(row: row, snippet: ""), id: row.integer(7) ?? 0) }
            return try rows.map { found in
                var hit = found.row
                hit.snippet = try db.query(Self.searchSnippet, [.text(match), .integer(found.id)]) { $0.text(0) ?? "" }.first ?? ""
                return hit
            }
        }
    }

    /// `?1` the MATCH expression, `?2`...`?5` the cursor's score, date, conversation and
    /// sequence, `?6` the limit, `?7` and `?8` the owner's rowids. Scores are bm25 scaled to
    /// integers, so that a cursor compares exactly.
    static let searchPage = StoredColumns.searchHits(from: """
        SELECT d.conversation_id, d.seq, d.created_at, h.score, d.id
        FROM (SELECT rowid AS id, CAST(bm25(search_index) * 1e12 AS INTEGER) AS score
              FROM search_index WHERE search_index MATCH ?1 AND rowid BETWEEN ?7 AND ?8) h
        JOIN search_docs d ON d.id = h.id
        WHERE h.score > ?2 OR (h.score = ?2 AND (d.created_at < ?3 OR (d.created_at = ?3
            AND (d.conversation_id < ?4 OR (d.conversation_id = ?4 AND d.seq < ?5)))))
        ORDER BY h.score, d.created_at DESC, d.conversation_id DESC, d.seq DESC
        LIMIT ?6
        """, extra: ", p.id")

    /// About a dozen words around the first match in one entry, matches in brackets.
    static let searchSnippet = """
        SELECT snippet(search_index, 0, '[', ']', '…', 12) FROM search_index WHERE search_index MATCH ?1 AND rowid = ?2
        """
}
