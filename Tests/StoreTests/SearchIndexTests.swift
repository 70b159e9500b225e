import Foundation
import Platform
@testable import PostgresStore
@testable import SQLiteStore
@testable import Store
import Testing

/// What the SQL stores' search indexes promise beyond the conformance suite: an index exact
/// after every kind of write (a message replaced in place included), filled for a database
/// that existed before search, and PostgreSQL's configurable language.
struct SearchIndexTests {
    private func temporaryPath() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("askd-search-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("askd.sqlite").path
    }

    private func found(_ store: any ConversationStore, _ text: String, owner: String = "tok-alice") throws -> Set<String> {
        Set(try store.search(owner: owner, query: SearchQuery(parsing: text), limit: 100, after: nil).map { "\($0.conversationID)#\($0.sequence ?? 0)" })
    }

    /// FTS5's own check of the index against the content it was made from, once what is queued
    /// is indexed.
    private func checkIndex(_ store: SQLiteStore) throws {
        try store.withConnection { db in
            try SearchIndexer.indexQueue(on: db)
            try db.execute("INSERT INTO search_index (search_index, rank) VALUES ('integrity-check', 1)")
        }
    }

    private func count(_ table: String, in store: SQLiteStore) throws -> Int64 {
        try store.withConnection { try $0.query("SELECT COUNT(*) FROM \(table)", []) { $0.integer(0) ?? 0 } }.first ?? 0
    }

    /// A write only queues its text: nothing of the index is written in its transaction. A
    /// search indexes the queue before it reads, so it finds the write at once.
    @Test func sqliteWriteQueuesItsTextAndASearchIndexesTheQueueFirst() throws {
        let path = try temporaryPath()
        let store = try SQLiteStore(path: path)
        try store.insertToken(makeToken("alice"))
        // Another process's writes: its connection tells no indexer of this process, and this
        // store's own indexer never starts (nothing it commits leaves changes queued).
        let other = try SQLiteConnection(path: path, busyTimeoutMilliseconds: 5_000, writerLock: Lock())
        func write(_ statements: String...) throws {
            try other.writeTransaction { for statement in statements { try other.execute(statement) } }
        }
        func expectCounts(queued: Int64, indexed: Int64) throws {
            #expect(try count("search_queue", in: store) == queued)
            #expect(try count("search_docs", in: store) == indexed)
        }
        let message = "INSERT INTO messages (conversation_id, seq, role, content, created_at) VALUES"
        try write(
            "INSERT INTO conversations (id, token_id, created_at, updated_at) VALUES ('c1', 'tok-alice', 1000, 1000)",
            "\(message) ('c1', 1, 'user', 'first heron', 1000)", "\(message) ('c1', 2, 'assistant', 'a heron answer', 1000)"
        )
        try expectCounts(queued: 2, indexed: 0)
        #expect(try found(store, "heron") == ["c1#1", "c1#2"])
        try expectCounts(queued: 0, indexed: 2)
        // Several changes to one entry before the next index: each is indexed with its own text.
        try write(
            "\(message) ('c1', 3, 'user', 'a grey heron', 3000)",
            "UPDATE messages SET content = 'a bittern' WHERE conversation_id = 'c1' AND seq = 1",
            "UPDATE messages SET content = 'a bittern again' WHERE conversation_id = 'c1' AND seq = 1"
        )
        try expectCounts(queued: 5, indexed: 2)
        #expect(try found(store, "heron") == ["c1#2", "c1#3"])
        #expect(try found(store, "bittern") == ["c1#1"])
        try expectCounts(queued: 0, indexed: 3)
        try checkIndex(store)
    }

    /// With no search to prompt it, the store's indexer empties the queue soon after the commit.
    @Test func sqliteIndexerIndexesQueuedTurnsOnItsOwn() throws {
        let store = try SQLiteStore(path: try temporaryPath())
        try store.insertToken(makeToken("alice"))
        for number in 1...300 {
            try store.commitTurn(turn("c\(number)", owner: "tok-alice", starts: true, "heron \(number)", at: Int64(number)))
        }
        let deadline = MonotonicClock.now() + 10
        while try count("search_queue", in: store) > 0 && MonotonicClock.now() < deadline { usleep(20_000) }
        #expect(try count("search_queue", in: store) == 0)
        #expect(try count("search_docs", in: store) == 600)
        try checkIndex(store)
    }

    /// The index of the first migration step that creates search, on either store.
    private static func searchStep(_ steps: [String]) -> Int {
        steps.firstIndex { $0.contains("search") } ?? steps.count
    }

    @Test func sqliteIndexStaysExactThroughEveryWrite() throws {
        let store = try SQLiteStore(path: try temporaryPath())
        try store.insertToken(makeToken("alice"))
        var start = turn("c1", owner: "tok-alice", starts: true, "first heron", at: 1_000)
        start.settings.title = "heron watching"
        try store.commitTurn(start)
        try store.commitTurn(turn("c1", owner: "tok-alice", starts: false, "second heron", at: 2_000))
        try store.commitTurn(turn("c2", owner: "tok-alice", starts: true, "other heron", at: 3_000))
        try checkIndex(store)
        // A message replaced in place, as regenerating an answer does.
        try store.withConnection { db in
            try db.writeTransaction {
                try db.execute("UPDATE messages SET content = 'a kingfisher instead' WHERE conversation_id = 'c1' AND seq = 4")
            }
        }
        #expect(try found(store, "kingfisher") == ["c1#4"])
        #expect(try found(store, "heron") == ["c1#0", "c1#1", "c1#2", "c1#3", "c2#1", "c2#2"])
        try checkIndex(store)
        _ = try store.updateConversation(id: "c1", owner: "tok-alice", change: ConversationSettingsChange(title: "kingfisher"))
        try store.importConversation(
            Conversation(id: "c2", owner: "tok-alice", createdAt: .at(3_000), updatedAt: .at(3_000)),
            messages: [StoredMessage(sequence: 1, role: .user, content: "imported heron", createdAt: .at(3_000))]
        )
        try checkIndex(store)
        #expect(try store.deleteConversation(id: "c1", owner: "tok-alice"))
        try checkIndex(store)
        #expect(try store.deleteAllConversations(owner: "tok-alice") == 1)
        try checkIndex(store)
        #expect(try store.withConnection { try $0.query("SELECT COUNT(*) FROM search_docs", []) { $0.integer(0) } }.first == 0)
    }

    @Test func sqliteDatabaseFromBeforeSearchIsIndexedByTheMigration() throws {
        let path = try temporaryPath()
        let steps = SQLiteMigrations.steps
        let before = Self.searchStep(steps)
        let connection = try SQLiteConnection(path: path, busyTimeoutMilliseconds: 5_000, writerLock: Lock())
        for step in steps.prefix(before) { try connection.executeScript(step) }
        try connection.executeScript("""
            PRAGMA user_version = \(before);
            INSERT INTO tokens (id, name, hash, created_at) VALUES ('tok-alice', 'alice', 'h', 0);
            INSERT INTO conversations (id, token_id, created_at, updated_at, title) VALUES ('c1', 'tok-alice', 5, 5, 'old osprey');
            INSERT INTO messages (conversation_id, seq, role, content, created_at) VALUES ('c1', 1, 'user', 'an osprey dives', 5);
            INSERT INTO conversations (id, token_id, created_at, updated_at) VALUES ('c2', 'tok-alice', 6, 6);
            INSERT INTO messages (conversation_id, seq, role, content, created_at) VALUES ('c2', 1, 'user', 'osprey again', 6);
            """)
        let store = try SQLiteStore(path: path)
        #expect(try store.schemaVersion() == SQLiteMigrations.latestVersion)
        #expect(try found(store, "osprey") == ["c1#0", "c1#1", "c2#1"])
        try checkIndex(store)
        // Entries written afterwards take the next rowids of their owner's range, or a new owner's.
        try store.commitTurn(turn("c1", owner: "tok-alice", starts: false, "osprey once more", at: 7))
        try store.insertToken(makeToken("bob"))
        try store.commitTurn(turn("b1", owner: "tok-bob", starts: true, "bob's osprey", at: 8))
        #expect(try found(store, "osprey") == ["c1#0", "c1#1", "c1#2", "c1#3", "c2#1"])
        #expect(try found(store, "osprey", owner: "tok-bob") == ["b1#1", "b1#2"])
        try checkIndex(store)
    }

    @Test func postgresIndexFollowsAMessageReplacedInPlace() throws {
        let url = try PostgresTestCluster.shared.get().createDatabase()
        let store = try PostgresStore(url: url)
        try store.insertToken(makeToken("alice"))
        try store.commitTurn(turn("c1", owner: "tok-alice", starts: true, "first heron", at: 1_000))
        _ = try PostgresTestCluster.psql(url, "UPDATE messages SET content = convert_to('a kingfisher', 'UTF8') WHERE seq = 2")
        #expect(try found(store, "kingfisher") == ["c1#2"])
        #expect(try found(store, "heron") == ["c1#1"])
    }

    /// The owner's lexeme holds a space: text that spells it out is two words, and finds nothing of another's.
    @Test func postgresOwnerLexemeCannotBeForgedByText() throws {
        let url = try PostgresTestCluster.shared.get().createDatabase()
        let store = try PostgresStore(url: url)
        try store.insertToken(makeToken("alice"))
        try store.insertToken(makeToken("bob"))
        let forged = try PostgresTestCluster.psql(url, "SELECT 'owner ' || md5('tok-alice')")
        try store.commitTurn(turn("b1", owner: "tok-bob", starts: true, "\(forged) pelican", at: 1_000))
        try store.commitTurn(turn("a1", owner: "tok-alice", starts: true, "a pelican", at: 2_000))
        #expect(try found(store, "pelican") == ["a1#1", "a1#2"])
        #expect(try found(store, "pelican", owner: "tok-bob") == ["b1#1", "b1#2"])
    }

    @Test func postgresDatabaseFromBeforeSearchIsIndexedByTheMigration() throws {
        let url = try PostgresTestCluster.shared.get().createDatabase()
        let steps = PostgresMigrations.steps
        let before = steps.firstIndex { $0.joined().contains("search") } ?? steps.count
        var script = "CREATE TABLE askd_schema (version INTEGER PRIMARY KEY);"
        for (index, step) in steps.prefix(before).enumerated() {
            script += step.map { $0 + ";" }.joined() + "INSERT INTO askd_schema VALUES (\(index + 1));"
        }
        script += """
            INSERT INTO tokens (id, name, hash, created_at) VALUES ('tok-alice', 'alice', 'h', 0);
            INSERT INTO conversations (id, token_id, created_at, updated_at, title) VALUES ('c1', 'tok-alice', 5, 5, 'old osprey');
            INSERT INTO messages (conversation_id, seq, role, content, created_at) VALUES ('c1', 1, 'user', convert_to('an osprey dives', 'UTF8'), 5);
            """
        _ = try PostgresTestCluster.psql(url, script)
        let store = try PostgresStore(url: url)
        #expect(try found(store, "osprey") == ["c1#0", "c1#1"])
    }

    @Test func postgresSearchesInTheConfiguredLanguageAndRefusesAnUnknownOne() throws {
        let url = try PostgresTestCluster.shared.get().createDatabase()
        let english = try PostgresStore(url: url, searchLanguage: "english")
        try english.insertToken(makeToken("alice"))
        try english.commitTurn(turn("c1", owner: "tok-alice", starts: true, "she runs daily", at: 1_000))
        #expect(try found(english, "running") == ["c1#1", "c1#2"], "english stems")
        #expect(try found(english, "the").isEmpty, "a query of stop words only matches nothing, not everything")
        // Another configuration reindexes what is stored.
        let simple = try PostgresStore(url: url, searchLanguage: "simple")
        #expect(try found(simple, "running").isEmpty)
        #expect(try found(simple, "runs") == ["c1#1", "c1#2"])
        #expect {
            _ = try PostgresStore(url: url, searchLanguage: "klingon")
        } throws: { error in
            "\(error)".contains("ASKD_SEARCH_LANGUAGE") && "\(error)".contains("klingon")
        }
    }
}

/// Random queries over a hostile alphabet: whatever parses runs on every store without an
/// error from the engine, and every token the engines see is letters, digits and marks.
struct SearchQueryPropertyTests {
    /// Quotes, operators of both engines, separators, NUL, marks, emoji and letters.
    static let alphabet: [String] = [
        "\"", "'", "\\", "*", "(", ")", ":", "-", "+", "^", "&", "|", "!", "<", ">", "~", "{", "}", ",", ".", "/", "\u{0}", "\t",
        " ", " ", " ", "AND", "OR", "NOT", "NEAR", "a", "b", "é", "e\u{301}", "ß", "東", "🙂", "👩‍👩‍👧", "1", "x", "abc", "owner", "\u{301}", "\u{200B}", "\u{E000}", "\u{FFFD}",
    ]

    static func queries(count: Int, seed: UInt64) -> [String] {
        var state = seed
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        return (0..<count).map { _ in (0..<(1 + next() % 12)).map { _ in alphabet[next() % alphabet.count] }.joined() }
    }

    @Test func parsedQueriesHoldOnlyTokenCharacters() {
        for text in Self.queries(count: 20_000, seed: 1) {
            guard let query = try? SearchQuery(parsing: text) else { continue }
            #expect(!query.terms.isEmpty && query.terms.count <= SearchQuery.maximumTerms)
            for term in query.terms {
                #expect(!term.tokens.isEmpty && term.tokens.allSatisfy { !$0.isEmpty && $0.allSatisfy(SearchQuery.isTokenCharacter) }, "\(text)")
                #expect(!term.prefix || term.tokens.last!.count >= SearchQuery.minimumPrefix, "\(text)")
            }
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func everyParsedQueryRunsOnTheStore(backend: StoreBackend) throws {
        let store = try backend.make().store
        try store.insertToken(makeToken("alice"))
        var start = turn("c1", owner: "tok-alice", starts: true, "a b abc é ß 東 1 x NEAR AND owner \"quoted\" (parens)", at: 1_000)
        start.settings.title = "abc title"
        try store.commitTurn(start)
        var ran = 0
        for text in Self.queries(count: 600, seed: 2) {
            guard let query = try? SearchQuery(parsing: text) else { continue }
            _ = try store.search(owner: "tok-alice", query: query, limit: 5, after: nil)
            ran += 1
        }
        #expect(ran > 200)
    }
}
