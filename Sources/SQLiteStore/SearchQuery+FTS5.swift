import Store

extension SearchQuery {
    /// The query as an FTS5 MATCH expression: every token is a quoted string (a quote in it
    /// doubled), so no text of the caller's is ever read as FTS5 syntax, whatever it holds.
    var fts5Match: String {
        terms.map { term in
            SearchQuery.fts5String(term.tokens.joined(separator: " ")) + (term.prefix ? " *" : "")
        }.joined(separator: " AND ")
    }

    /// `text` as an FTS5 string: in double quotes, each double quote doubled.
    static func fts5String(_ text: String) -> String {
        "\"" + text.replacing("\"", with: "\"\"") + "\""
    }
}
