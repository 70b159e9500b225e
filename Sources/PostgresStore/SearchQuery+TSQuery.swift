import Store

extension SearchQuery {
    /// The query in `to_tsquery`'s syntax, passed to it as a parameter: every token a quoted
    /// lexeme (a quote or backslash in it escaped, though tokens hold only letters, digits and
    /// marks) in lower case, as `askd_search_fold` makes the text, the tokens of a phrase joined by `<->`, a prefix marked `:*`, the terms by `&`.
    /// No text of the caller's is ever read as an operator.
    var tsquery: String {
        terms.map { term in
            var lexemes = term.tokens.map(SearchQuery.tsqueryLexeme)
            if term.prefix, let last = lexemes.popLast() { lexemes.append(last + ":*") }
            let phrase = lexemes.joined(separator: " <-> ")
            return lexemes.count > 1 ? "(\(phrase))" : phrase
        }.joined(separator: " & ")
    }

    static func tsqueryLexeme(_ token: String) -> String {
        "'" + token.lowercased().replacing("\\", with: "\\\\").replacing("'", with: "''") + "'"
    }
}
