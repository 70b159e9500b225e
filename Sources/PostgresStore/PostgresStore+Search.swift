import FoundationEssentials
import Store

extension PostgresStore {
    /// Ranks the owner's matching messages and titles by `ts_rank` through the GIN indexes of
    /// the search migration, takes the page after `cursor`, and makes a headline for the page's hits
    /// only, all in one statement.
    public func search(owner: String, query: SearchQuery, limit: Int, after cursor: SearchCursor?) throws -> [SearchHit] {
        guard limit > 0 else { return [] }
        // Before every hit when there is no cursor: no score is that low.
        let after = cursor ?? SearchCursor(score: .min, createdAt: .latestStored, conversationID: "", sequence: 0)
        return try withConnection { db in
            try db.query(Self.searchPage, [
                .text(owner), .text(query.tsquery), .integer(after.score), .date(after.createdAt), .text(after.conversationID),
                .integer(after.sequence), .integer(limit),
            ]) { row in SearchHit(row: row, snippet: row.text(7) ?? "") }
        }
    }

    /// `$1` the owner, `$2` the tsquery, `$3`...`$6` the cursor's score, date, conversation and
    /// sequence, `$7` the limit. The query is made once, and read through scalar subqueries,
    /// which the plan evaluates once and the GIN indexes take as their condition: the owner's
    /// lexeme and the query's, intersected in the index. A query that the configuration
    /// reduces to nothing (only stop words) matches nothing. Scores are `ts_rank` (normalised by
    /// length) scaled to integers, negated so that lower is more relevant.
    static let searchPage = """
        WITH q AS MATERIALIZED (
            SELECT language, query, CASE WHEN numnode(query) > 0 THEN query && askd_search_owner($1) END AS owned
            FROM (SELECT language, to_tsquery(language, $2) AS query FROM askd_search_language) AS parsed
        )
        """ + StoredColumns.searchHits(from: """
            SELECT h.conversation_id, h.seq, h.created_at, h.score FROM (
                SELECT m.conversation_id, m.seq, m.created_at, (-ts_rank(m.search, (SELECT query FROM q), 1) * 1e12)::BIGINT AS score
                FROM messages m
                WHERE m.search @@ (SELECT owned FROM q)
                UNION ALL
                SELECT c.id, 0, c.created_at, (-ts_rank(c.title_search, (SELECT query FROM q), 1) * 1e12)::BIGINT
                FROM conversations c
                WHERE c.title_search @@ (SELECT owned FROM q) AND c.token_id = $1
            ) h
            WHERE h.score > $3 OR (h.score = $3 AND (h.created_at < $4 OR (h.created_at = $4
                AND (h.conversation_id COLLATE "C" < $5 OR (h.conversation_id COLLATE "C" = $5 AND h.seq < $6)))))
            ORDER BY h.score, h.created_at DESC, h.conversation_id COLLATE "C" DESC, h.seq DESC
            LIMIT $7
            """, extra: """
            ,
                (SELECT ts_headline(q.language,
                    CASE WHEN p.seq = 0 THEN c.title
                        ELSE (SELECT askd_search_text(m.content) FROM messages m WHERE m.conversation_id = p.conversation_id AND m.seq = p.seq) END,
                    q.query, 'StartSel=[, StopSel=], MaxWords=15, MinWords=5, MaxFragments=1, FragmentDelimiter=" … "')
                 FROM q)
            """, ownerCheck: "c.token_id = $1", collation: " COLLATE \"C\"")

    /// Makes `language` the text search configuration of the index, validated first, and
    /// reindexes every message and title when it changes: in one transaction under the
    /// migrations' lock, so that hosts starting at once agree.
    /// - Throws: `SearchLanguageError` when the database has no such configuration.
    static func applySearchLanguage(_ language: String, on db: PostgresConnection) throws {
        let known = try db.query("SELECT count(*)::BIGINT FROM pg_ts_config WHERE cfgname = $1 OR oid::regconfig::text = $1", [.text(language)]) {
            $0.integer(0) ?? 0
        }.first ?? 0
        guard known > 0 else {
            throw SearchLanguageError(language: language)
        }
        try db.transaction {
            try db.execute("SELECT pg_advisory_xact_lock($1)", [.integer(PostgresMigrations.lockKey)])
            let same = try db.query(
                "SELECT CASE WHEN language = $1::REGCONFIG THEN 1 ELSE 0 END::BIGINT FROM askd_search_language", [.text(language)]
            ) { $0.integer(0) }.first
            guard same != 1 else { return }
            // Reindexing takes as long as the database is big.
            _ = try db.execute("SET LOCAL statement_timeout = 0")
            _ = try db.execute("UPDATE askd_search_language SET language = $1::REGCONFIG", [.text(language)])
            _ = try db.execute("UPDATE messages SET content = content")
            _ = try db.execute("UPDATE conversations SET title = title WHERE title IS NOT NULL")
        }
    }
}

/// `ASKD_SEARCH_LANGUAGE` names a text search configuration the database does not have.
public struct SearchLanguageError: Error, Sendable, CustomStringConvertible {
    public let language: String

    public var description: String {
        "ASKD_SEARCH_LANGUAGE is \(language), which is no text search configuration of this database "
            + "(psql's \\dF lists them; simple and english are built in)"
    }
}
