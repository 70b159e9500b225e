/// A search in askd's own query language, parsed into terms that every store translates for
/// its engine: words, all of which must match; `"quoted phrases"`; and a trailing `*` on a
/// word for a prefix of at least `minimumPrefix` letters. Nothing else is an operator: `AND`,
/// `NEAR`, `-`, `:` and parentheses are plain text, and every character that is not a letter,
/// a digit or a mark separates words, as the stores' tokenizers do.
public struct SearchQuery: Sendable, Equatable {
    /// One condition a message (or title) must meet: these tokens in a row, the last one only
    /// as a prefix when `prefix` is set.
    public struct Term: Sendable, Equatable {
        /// Letters, digits and marks only, never empty.
        public var tokens: [String]
        public var prefix: Bool

        public init(tokens: [String], prefix: Bool = false) {
            self.tokens = tokens
            self.prefix = prefix
        }
    }

    /// Every one must match; never empty.
    public let terms: [Term]

    public static let maximumCharacters = 500
    public static let maximumTerms = 16
    public static let minimumPrefix = 3

    /// Parses `text`.
    /// - Throws: `SearchQueryError` saying what is wrong, in a sentence for the caller.
    public init(parsing text: String) throws(SearchQueryError) {
        guard text.unicodeScalars.count <= Self.maximumCharacters else {
            throw SearchQueryError("q is longer than \(Self.maximumCharacters) characters")
        }
        var terms: [Term] = []
        var rest = Substring(text)
        while let start = rest.firstIndex(where: { !$0.isWhitespace }) {
            rest = rest[start...]
            if rest.first == "\"" {
                let body = rest.dropFirst()
                guard let close = body.firstIndex(of: "\"") else {
                    throw SearchQueryError("q has an unbalanced quote: close every \"phrase\"")
                }
                let tokens = Self.tokens(of: body[..<close])
                if !tokens.isEmpty { terms.append(Term(tokens: tokens)) }
                rest = body[body.index(after: close)...]
                continue
            }
            // A word ends at whitespace or at a quote, which starts a phrase.
            let end = rest.firstIndex { $0.isWhitespace || $0 == "\"" } ?? rest.endIndex
            let word = rest[..<end]
            rest = rest[end...]
            let stem = word.hasSuffix("*") ? word.dropLast() : word
            let tokens = Self.tokens(of: stem)
            if word.hasSuffix("*") {
                guard let last = tokens.last, stem.last.map(Self.isTokenCharacter) == true, last.count >= Self.minimumPrefix else {
                    throw SearchQueryError("a prefix search needs at least \(Self.minimumPrefix) letters right before the *")
                }
                terms.append(Term(tokens: tokens, prefix: true))
            } else if !tokens.isEmpty {
                terms.append(Term(tokens: tokens))
            }
        }
        guard !terms.isEmpty else {
            throw SearchQueryError("q holds no words to search for: give at least one word of letters or digits")
        }
        guard terms.count <= Self.maximumTerms else {
            throw SearchQueryError("q has more than \(Self.maximumTerms) words and phrases")
        }
        self.terms = terms
    }

    /// The runs of letters, digits and marks in `text`.
    static func tokens(of text: Substring) -> [String] {
        text.split { !isTokenCharacter($0) }.map(String.init)
    }

    /// A letter, digit or mark (including a private-use character, which SQLite's tokenizer
    /// keeps too); a character made of several code points counts by its first.
    static func isTokenCharacter(_ character: Character) -> Bool {
        guard let scalar = character.unicodeScalars.first else { return false }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber, .nonspacingMark, .spacingMark, .enclosingMark, .privateUse:
            return true
        default:
            return false
        }
    }
}

/// Why a search query cannot be run, as a sentence for the caller.
public struct SearchQueryError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
