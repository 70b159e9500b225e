@testable import Store
@testable import PostgresStore
@testable import SQLiteStore
import Testing

/// askd's query language: what it parses, what it refuses, and what each engine is given.
struct SearchQueryTests {
    private func terms(_ text: String) throws -> [SearchQuery.Term] {
        try SearchQuery(parsing: text).terms
    }

    private func refusal(_ text: String) -> String? {
        do {
            _ = try SearchQuery(parsing: text)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func wordsPhrasesAndPrefixes() throws {
        #expect(try terms("invoice march") == [.init(tokens: ["invoice"]), .init(tokens: ["march"])])
        #expect(try terms(" \"due date\"  total ") == [.init(tokens: ["due", "date"]), .init(tokens: ["total"])])
        #expect(try terms("inv*") == [.init(tokens: ["inv"], prefix: true)])
        #expect(try terms("Straße café") == [.init(tokens: ["Straße"]), .init(tokens: ["café"])])
        // A quote ends a word and starts a phrase.
        #expect(try terms("a\"b c\"d") == [.init(tokens: ["a"]), .init(tokens: ["b", "c"]), .init(tokens: ["d"])])
    }

    @Test func punctuationSeparatesAsTheTokenizersDo() throws {
        #expect(try terms("don't") == [.init(tokens: ["don", "t"])])
        #expect(try terms("e-mail:x") == [.init(tokens: ["e", "mail", "x"])])
        #expect(try terms("foo-bar*") == [.init(tokens: ["foo", "bar"], prefix: true)])
        #expect(try terms("hello🙂world") == [.init(tokens: ["hello", "world"])])
    }

    @Test func operatorsOfTheEnginesArePlainWords() throws {
        #expect(try terms("cats AND dogs OR NOT NEAR") == ["cats", "AND", "dogs", "OR", "NOT", "NEAR"].map { .init(tokens: [$0]) })
        #expect(try terms("(cats) -dogs +fish ^x ~y") == ["cats", "dogs", "fish", "x", "y"].map { .init(tokens: [$0]) })
        #expect(try terms("col:umn NEAR(a b, 3)") == [
            .init(tokens: ["col", "umn"]), .init(tokens: ["NEAR", "a"]), .init(tokens: ["b"]), .init(tokens: ["3"]),
        ])
        #expect(try terms("a\u{0}b") == [.init(tokens: ["a", "b"])])
    }

    @Test func badQueriesAreRefusedWithASentence() {
        #expect(refusal("")?.contains("no words") == true)
        #expect(refusal("   ")?.contains("no words") == true)
        #expect(refusal("?!.,;:()-")?.contains("no words") == true)
        #expect(refusal("🙂🙂")?.contains("no words") == true)
        #expect(refusal("\u{0}")?.contains("no words") == true)
        #expect(refusal("\"\"")?.contains("no words") == true)
        #expect(refusal("\"open phrase")?.contains("unbalanced quote") == true)
        #expect(refusal("ok \"a\" \"b")?.contains("unbalanced quote") == true)
        #expect(refusal("*")?.contains("at least 3 letters") == true)
        #expect(refusal("ab*")?.contains("at least 3 letters") == true)
        #expect(refusal("abc-*")?.contains("at least 3 letters") == true)
        #expect(refusal("***")?.contains("at least 3 letters") == true)
        #expect(refusal(String(repeating: "a", count: 501))?.contains("longer than 500") == true)
        #expect(refusal(Array(repeating: "w", count: 17).joined(separator: " "))?.contains("more than 16") == true)
        #expect(refusal(String(repeating: "a", count: 500)) == nil)
    }

    @Test func fts5QuotesEveryToken() throws {
        let query = try SearchQuery(parsing: "cats \"due date\" NEAR inv* AND")
        #expect(query.fts5Match == #""cats" AND "due date" AND "NEAR" AND "inv" * AND "AND""#)
        // A double quote never reaches a token, but the quoting holds even if it did.
        #expect(SearchQuery.fts5String("a\"b") == #""a""b""#)
    }

    @Test func tsqueryQuotesEveryLexeme() throws {
        let query = try SearchQuery(parsing: "cats \"due date\" NOT foo-bar* : &|!")
        #expect(query.tsquery == "'cats' & ('due' <-> 'date') & 'not' & ('foo' <-> 'bar':*)")
        #expect(SearchQuery.tsqueryLexeme("it's \\") == #"'it''s \\'"#)
    }

    @Test func hostileInputOnlyEverBecomesQuotedTokens() throws {
        let hostile = [
            "\"\"\" OR 1=1 --", "') ; DROP TABLE messages; --", "body:x* NEAR/2 \"", "{owner body}: x", "x':* | !y",
            String(repeating: "(", count: 400) + "word", "\u{0}\u{1}\u{7F}word\u{202E}", "👩‍👩‍👧‍👦 family", "a*b*c* word",
        ]
        for text in hostile {
            guard let query = try? SearchQuery(parsing: text) else { continue }
            for token in query.terms.flatMap(\.tokens) {
                #expect(token.allSatisfy(SearchQuery.isTokenCharacter), "\(text): \(token)")
                #expect(!token.contains("\"") && !token.contains("'") && !token.contains("\\"))
            }
        }
    }
}
