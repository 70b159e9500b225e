import Store

extension SearchQuery {
    /// The query as an FTS5 MATCH expression on the `body` column of `search_index`, limited to
    /// `owner`'s entries: every token is a quoted string (a quote in it doubled), so no text of
    /// the caller's is ever read as FTS5 syntax, whatever it holds.
    func fts5Match(owner: String) -> String {
        let phrases = terms.map { term in
            SearchQuery.fts5String(term.tokens.joined(separator: " ")) + (term.prefix ? " *" : "")
        }
        return "owner : \(SearchQuery.fts5String(SearchQuery.ownerToken(owner))) AND body : (\(phrases.joined(separator: " AND ")))"
    }

    /// The single token under which `search_content` indexes an owner: `o` and the id's UTF-8
    /// in upper-case hex, as SQLite's `'o' || hex(owner)` writes it.
    static func ownerToken(_ owner: String) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var token: [UInt8] = [UInt8(ascii: "o")]
        for byte in owner.utf8 {
            token.append(digits[Int(byte >> 4)])
            token.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: token, as: UTF8.self)
    }

    /// `text` as an FTS5 string: in double quotes, each double quote doubled.
    static func fts5String(_ text: String) -> String {
        "\"" + text.replacing("\"", with: "\"\"") + "\""
    }
}
