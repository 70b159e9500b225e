import FoundationEssentials

/// Search over texts held in memory, with the semantics the SQL stores give: the same tokens
/// (`SearchQuery.tokens(of:)`, case folded), every term matching, and a snippet of about a
/// dozen words with each matched token between `[` and `]`.
enum MemorySearch {
    /// A text's tokens, folded, with where each stands in the text.
    struct Tokens {
        let text: String
        let folded: [String]
        let ranges: [Range<String.Index>]

        init(_ text: String) {
            self.text = text
            var folded: [String] = []
            var ranges: [Range<String.Index>] = []
            var start: String.Index?
            var index = text.startIndex
            while index < text.endIndex {
                let isToken = SearchQuery.isTokenCharacter(text[index])
                if isToken, start == nil { start = index }
                if !isToken, let begun = start {
                    ranges.append(begun..<index)
                    start = nil
                }
                index = text.index(after: index)
            }
            if let begun = start { ranges.append(begun..<text.endIndex) }
            for range in ranges { folded.append(text[range].lowercased()) }
            self.folded = folded
            self.ranges = ranges
        }
    }

    /// The positions of the tokens that `query` matched in `tokens`, or nil unless every term matched.
    static func matches(_ query: SearchQuery, in tokens: Tokens) -> Set<Int>? {
        var matched: Set<Int> = []
        for term in query.terms {
            let wanted = term.tokens.map { $0.lowercased() }
            var found = false
            var start = 0
            while start + wanted.count <= tokens.folded.count {
                let fits = wanted.indices.allSatisfy { offset in
                    let token = tokens.folded[start + offset]
                    return term.prefix && offset == wanted.count - 1 ? token.hasPrefix(wanted[offset]) : token == wanted[offset]
                }
                if fits {
                    found = true
                    matched.formUnion(start..<(start + wanted.count))
                }
                start += 1
            }
            guard found else { return nil }
        }
        return matched
    }

    /// The score of a match: more of the text matched is more relevant (lower).
    static func score(matched: Set<Int>, of tokens: Tokens) -> Int64 {
        -Int64(matched.count * 1_000_000 / max(1, tokens.folded.count))
    }

    /// About a dozen tokens of the text around its first match, matches in brackets.
    static func snippet(matched: Set<Int>, of tokens: Tokens, words: Int = 12) -> String {
        guard let first = matched.min() else { return "" }
        let from = max(0, first - words / 3)
        let to = min(tokens.ranges.count, from + words)
        var snippet = from > 0 ? "…" : ""
        var position = tokens.ranges[from].lowerBound
        for index in from..<to {
            let range = tokens.ranges[index]
            snippet += tokens.text[position..<range.lowerBound]
            snippet += matched.contains(index) ? "[\(tokens.text[range])]" : String(tokens.text[range])
            position = range.upperBound
        }
        if to < tokens.ranges.count { snippet += "…" }
        return snippet
    }

    /// The hits among `candidates` in `SearchCursor`'s order after `cursor`, at most `limit`.
    static func page(_ candidates: [SearchHit], limit: Int, after cursor: SearchCursor?) -> [SearchHit] {
        let sorted = candidates.sorted { $0.cursor.precedes($1.cursor) }
        let start = cursor.map { cursor in sorted.firstIndex { cursor.precedes($0.cursor) } ?? sorted.endIndex } ?? sorted.startIndex
        return Array(sorted[start...].prefix(max(0, limit)))
    }

    /// `owner`'s hits in these conversations and their messages.
    static func hits(
        _ query: SearchQuery, owner: String, conversations: some Sequence<Conversation>, messages: [String: [StoredMessage]]
    ) -> [SearchHit] {
        var hits: [SearchHit] = []
        for conversation in conversations where conversation.owner == owner {
            let history = messages[conversation.id] ?? []
            let firstPrompt = history.first.flatMap { $0.sequence == 1 && $0.role == .user ? $0.content : nil }
            func hit(_ text: String, sequence: Int?, role: MessageRole?, createdAt: Date) {
                let tokens = Tokens(text)
                guard let matched = matches(query, in: tokens) else { return }
                hits.append(SearchHit(
                    conversationID: conversation.id, title: conversation.settings.title, firstPrompt: firstPrompt, sequence: sequence,
                    role: role, snippet: snippet(matched: matched, of: tokens), createdAt: createdAt,
                    score: score(matched: matched, of: tokens)
                ))
            }
            if let title = conversation.settings.title { hit(title, sequence: nil, role: nil, createdAt: conversation.createdAt) }
            for message in history { hit(message.content, sequence: message.sequence, role: message.role, createdAt: message.createdAt) }
        }
        return hits
    }
}
