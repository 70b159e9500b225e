import Foundation
@testable import PostgresStore
@testable import SQLiteStore
import Platform
import Store
import Testing

/// A page of a token's conversations reads only its own rows, however many the token has:
/// with 50,000 conversations, neither plan of the first page (21, as `GET /conversations` asks)
/// sorts or scans the owner's conversations, and 100 such calls have a p99 well within 10 ms
/// (here: SQLite 0.2 ms, PostgreSQL 3.5 ms). The bounds asserted leave room for a machine
/// busy with other tests, and still fail the plan before migrations 4 (SQLite) and 5
/// (PostgreSQL), which sorted every conversation of the token: p50 266 / 28 ms, p99 534 / 55 ms.
@Suite struct ConversationListingPerformanceTests {
    static let conversations = 50_000
    /// Another token's, which no page of Alice's may read either.
    static let otherConversations = 5_000
    static let calls = 100
    static let p50Bound: Duration = .milliseconds(5)
    static let p99Bound: Duration = .milliseconds(25)

    @Test func sqliteListsAPageOf50000InTenMilliseconds() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("askd-listing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("askd.sqlite").path
        let store = try SQLiteStore(path: path)
        try Self.insertTokens(into: store)
        // Set-based inserts on a connection of the test's own: the store's paths take a
        // transaction per conversation.
        let db = try SQLiteConnection(path: path, busyTimeoutMilliseconds: 10_000, writerLock: Lock())
        try db.writeTransaction {
            try db.execute(Self.seed(owner: "tok-alice", count: Self.conversations, first: 0, series: Self.sqliteSeries))
            try db.execute(Self.seed(owner: "tok-bob", count: Self.otherConversations, first: Self.conversations, series: Self.sqliteSeries))
            try db.execute(Self.seedMessages)
        }
        try db.execute("ANALYZE")

        let plan = try db.query("EXPLAIN QUERY PLAN " + SQLiteStore.conversationPage, [
            .text("tok-alice"), .integer(Int64.max), .text(""), .integer(21),
        ]) { $0.text(3) ?? "" }
        print("SQLite plan of a page:\n  " + plan.joined(separator: "\n  "))
        #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
        #expect(plan.contains { $0.contains("conversations_by_creation") }, "\(plan)")
        #expect(!plan.contains { $0.hasPrefix("SCAN") && !$0.contains("INDEX") }, "\(plan)")

        try Self.measure(store, backend: "SQLite")
    }

    @Test func postgresListsAPageOf50000InTenMilliseconds() throws {
        let url = try PostgresTestCluster.shared.get().createDatabase()
        let store = try PostgresStore(url: url)
        try Self.insertTokens(into: store)
        let db = try PostgresConnection(settings: ConnectionSettings(url: url, statementTimeoutMilliseconds: 60_000))
        _ = try db.execute(Self.seed(owner: "tok-alice", count: Self.conversations, first: 0, series: Self.postgresSeries))
        _ = try db.execute(Self.seed(owner: "tok-bob", count: Self.otherConversations, first: Self.conversations, series: Self.postgresSeries))
        _ = try db.execute(Self.seedMessages.replacing("'p' || c.id", with: "convert_to('p' || c.id, 'UTF8')"))
        _ = try db.execute("ANALYZE")

        // The store's statements are prepared, so after five runs the server may plan them
        // generically, without the values: both plans must read by the index.
        _ = try db.execute("PREPARE page (text, bigint) AS " + PostgresStore.conversationPage)
        _ = try db.execute("PREPARE later_page (text, bigint, bigint, text) AS " + PostgresStore.conversationPageAfter)
        for mode in ["force_custom_plan", "force_generic_plan"] {
            _ = try db.execute("SET plan_cache_mode = \(mode)")
            for statement in ["page ('tok-alice', 21)", "later_page ('tok-alice', 21, 1795725000000, 'c25000')"] {
                let plan = try db.query("EXPLAIN EXECUTE \(statement)") { $0.text(0) ?? "" }
                print("PostgreSQL plan of \(statement) (\(mode)):\n  " + plan.joined(separator: "\n  "))
                #expect(!plan.contains { $0.contains("Sort") || $0.contains("Seq Scan") }, "\(plan)")
                #expect(plan.contains { $0.contains("conversations_by_creation") }, "\(plan)")
            }
        }

        try Self.measure(store, backend: "PostgreSQL")
    }

    // MARK: Helpers

    private static func insertTokens(into store: any ConversationStore) throws {
        try store.insertToken(makeToken("alice"))
        try store.insertToken(makeToken("bob"))
    }

    /// 100 first pages after a few to warm up; the figures printed, the median and the 99th percentile held to their bounds.
    private static func measure(_ store: any ConversationStore, backend: String) throws {
        let clock = ContinuousClock()
        for _ in 0..<5 { _ = try store.conversations(owner: "tok-alice", limit: 21, after: nil) }
        var times: [Duration] = []
        for _ in 0..<calls {
            var page: [ConversationSummary] = []
            times.append(try clock.measure { page = try store.conversations(owner: "tok-alice", limit: 21, after: nil) })
            guard page.count == 21, page.first?.conversation.id == "c\(conversations - 1)", page.first?.messageCount == 2,
                page.first?.firstPrompt == "pc\(conversations - 1)", page.first?.lastModel == "m"
            else {
                Issue.record("a wrong page: \(page.first.map { "\($0)" } ?? "empty")")
                return
            }
        }
        times.sort()
        let milliseconds = { (duration: Duration) in String(format: "%.3f", Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1e3) }
        print("\(backend), \(conversations) conversations, first page of 21, \(calls) calls: p50 \(milliseconds(times[calls / 2])) ms, p99 \(milliseconds(times[calls * 99 / 100 - 1])) ms, max \(milliseconds(times[calls - 1])) ms")
        #expect(times[calls / 2] <= p50Bound, "p50 \(milliseconds(times[calls / 2])) ms")
        #expect(times[calls * 99 / 100 - 1] <= p99Bound, "p99 \(milliseconds(times[calls * 99 / 100 - 1])) ms")
    }

    private static let sqliteSeries = "(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d) SELECT i FROM n)"
    private static let postgresSeries = "(SELECT generate_series(0, %d) AS i)"

    /// `count` conversations of `owner`, ids `c<first>`, `c<first + 1>`, ..., one a second.
    private static func seed(owner: String, count: Int, first: Int, series: String) -> String {
        """
        INSERT INTO conversations (id, token_id, created_at, updated_at)
        SELECT 'c' || (i + \(first)), '\(owner)', 1795700000000 + (i + \(first)) * 1000, 1795700000000 + (i + \(first)) * 1000
        FROM \(String(format: series, count - 1)) AS n
        """
    }

    /// A question and an answer in every conversation.
    private static let seedMessages = """
        INSERT INTO messages (conversation_id, seq, role, content, model, created_at)
        SELECT c.id, s.seq, CASE s.seq WHEN 1 THEN 'user' ELSE 'assistant' END, 'p' || c.id,
            CASE s.seq WHEN 1 THEN NULL ELSE 'm' END, c.created_at
        FROM conversations c, (SELECT 1 AS seq UNION ALL SELECT 2) AS s
        """
}
