import Foundation
@testable import PostgresStore
import Platform
import Store
import Testing

/// What only the PostgreSQL backend promises: its schema, its URL handling, and recovery.
struct PostgresStoreTests {
    private func newDatabase() throws -> String {
        try PostgresTestCluster.shared.get().createDatabase()
    }

    @Test func aNewDatabaseIsMigratedToTheLatestSchema() throws {
        let url = try newDatabase()
        let store = try PostgresStore(url: url)
        #expect(try store.schemaVersion() == PostgresMigrations.latestVersion)
        try store.insertToken(makeToken("alice"))
        // Another host starting migrates nothing and keeps the data.
        let again = try PostgresStore(url: url)
        try again.migrate()
        #expect(try again.schemaVersion() == PostgresMigrations.latestVersion)
        #expect(try again.allTokens().count == 1)
        // Without migrating, a store only connects when first used.
        #expect(try PostgresStore(url: try newDatabase(), migrate: false).schemaVersion() == 0)
    }

    /// A token's usage for a day spreads over several rows, so that its concurrent turns do not
    /// queue on one row's lock; the totals are their sums.
    @Test func oneTokensUsageSpreadsOverRowsAndSumsUp() throws {
        let url = try newDatabase()
        let store = try PostgresStore(url: url)
        let alice = makeToken("alice")
        try store.insertToken(alice)
        let turns = 64
        DispatchQueue.concurrentPerform(iterations: turns) { index in
            _ = try? store.commitTurn(turn("c\(index)", owner: alice.id, starts: true, "hi"))
        }
        let day = Date.at(1_795_700_001_000).usageDay
        #expect(try store.usage(owner: alice.id, day: day).day == UsageTotals(requests: turns, promptTokens: 3 * turns, completionTokens: 5 * turns))
        let rows = try #require(Int(PostgresTestCluster.psql(url, "SELECT COUNT(*) FROM usage_daily")))
        #expect(rows > 1 && rows <= PostgresStore.usageShards, "\(rows) rows")
    }

    /// A database that an askd before the usage shards left keeps its usage (as shard 0) and
    /// adds to it.
    @Test func usageFromBeforeTheShardsIsKept() throws {
        let url = try newDatabase()
        // Version 3, as the previous schema left it, with a day of usage.
        var script = "CREATE TABLE askd_schema (version INTEGER PRIMARY KEY);"
        for (index, step) in PostgresMigrations.steps.prefix(3).enumerated() {
            script += step.map { $0 + ";" }.joined() + "INSERT INTO askd_schema VALUES (\(index + 1));"
        }
        let alice = makeToken("alice")
        let day = Date.at(1_795_700_001_000).usageDay
        script += "INSERT INTO usage_daily VALUES ('\(alice.id)', '\(day)', 10, 30, 50);"
        _ = try PostgresTestCluster.psql(url, script)

        let store = try PostgresStore(url: url)
        #expect(try store.schemaVersion() == PostgresMigrations.latestVersion)
        try store.insertToken(alice)
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "hi"))
        #expect(try store.usage(owner: alice.id, day: day).day == UsageTotals(requests: 11, promptTokens: 33, completionTokens: 55))
    }

    @Test func manyStoresStartingAtOnceMigrateOnce() throws {
        let url = try newDatabase()
        let errors = LockedCounts()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            do {
                let store = try PostgresStore(url: url, maxConnections: 2)
                _ = try store.allTokens()
            } catch {
                errors.fail("\(error)")
            }
        }
        #expect(errors.failures.isEmpty, "\(errors.failures)")
        #expect(try PostgresStore(url: url).schemaVersion() == PostgresMigrations.latestVersion)
    }

    @Test(arguments: [
        "postgresql://u:s3cret@127.0.0.1:1/db",
        "postgres://u:s3cret@127.0.0.1:1/db?sslmode=disable",
        "postgresql://u@127.0.0.1:1/db?password=s3cret",
    ])
    func aPasswordNeverAppearsInAnError(url: String) {
        let error = #expect(throws: StoreError.self) { try PostgresStore(url: url, statementTimeoutMilliseconds: 2_000) }
        guard case .unavailable = error else {
            Issue.record("not unavailable: \(String(describing: error))")
            return
        }
        let description = error?.description ?? ""
        #expect(!description.contains("s3cret"), "\(description)")
        #expect(description.contains("127.0.0.1"), "\(description)")
    }

    @Test func aURLLibpqCannotReadIsRefusedWithoutItsPassword() {
        for url in ["postgresql://u:s3cret@[::1/db", "mysql://u:s3cret@127.0.0.1/db", "postgresql://u:s3cret@h/db?nonsense=1"] {
            let error = #expect(throws: PostgresError.self) { try PostgresStore(url: url) }
            #expect(error.map { !$0.description.contains("s3cret") } == true, "\(String(describing: error))")
        }
    }

    /// A turn lock released by one process reaches a waiter in another at once, by
    /// `NOTIFY askd_turn_locks`, not at the waiter's next look (every 100 ms once it has waited
    /// a while): five hand-overs between two stores on one database, after 1 s of waiting each.
    @Test func aReleaseElsewhereReachesTheWaiterByNotify() throws {
        let url = try newDatabase()
        let holder = try PostgresStore(url: url)
        let waiter = try PostgresStore(url: url)
        // The waiter's LISTEN connection is up once a token change made elsewhere reaches it.
        Thread.sleep(forTimeInterval: 0.5)
        var delays: [Double] = []
        for round in 0..<5 {
            let lock = try holder.acquireTurnLock(conversationID: "c\(round)", timeout: 1)
            let taken = Handoff<Date>()
            waiter.acquireTurnLock(conversationID: "c\(round)", timeout: 10) { result in
                if case .success(let lock) = result {
                    taken.put(Date())
                    waiter.releaseTurnLock(lock)
                }
            }
            Thread.sleep(forTimeInterval: 1)
            let released = Date()
            holder.releaseTurnLock(lock)
            delays.append(taken.take().timeIntervalSince(released))
        }
        let median = delays.sorted()[2]
        print("turn lock hand-over between two PostgreSQL stores: \(delays.map { Int($0 * 1_000) }) ms")
        #expect(median < 0.03, "median \(median) s; a look every 100 ms would give about 50 ms")
    }

    /// A SQLite store may hold U+0000 in a title or a model, which PostgreSQL's TEXT cannot:
    /// copying it keeps the rest of the text, with U+FFFD in its place, instead of failing midway.
    @Test func aCopiedTitleWithTheNULCharacterIsStored() throws {
        let store = try PostgresStore(url: try newDatabase())
        let alice = makeToken("alice")
        try store.insertToken(alice)
        let conversation = Conversation(
            id: "c1", owner: alice.id, createdAt: .at(1_795_700_000_000), updatedAt: .at(1_795_700_000_000),
            settings: ConversationSettings(title: "a\u{0}b", system: "s\u{0}", model: "m\u{0}")
        )
        try store.importConversation(conversation, messages: [])
        let stored = try #require(try store.conversation(id: "c1", owner: alice.id))
        #expect(stored.settings == ConversationSettings(title: "a\u{FFFD}b", system: "s\u{0}", model: "m\u{FFFD}"))
    }

    @Test func redactedURLsHideOnlyThePassword() {
        #expect(PostgresStore.redacted("postgresql://askd:s3cret@db.example:5432/askd?sslmode=require")
            == "postgresql://askd:***@db.example:5432/askd?sslmode=require")
        #expect(PostgresStore.redacted("postgres://askd@db/askd?password=s3cret&sslmode=verify-full")
            == "postgres://askd@db/askd?password=***&sslmode=verify-full")
        #expect(PostgresStore.redacted("postgresql://a:p@ss:w@rd@db/askd") == "postgresql://a:***@db/askd")
        #expect(PostgresStore.redacted("postgresql://a:pa?ss@[::1]:5432/askd?x=1") == "postgresql://a:***@[::1]:5432/askd?x=1")
        #expect(PostgresStore.redacted("postgresql://askd@db/askd") == "postgresql://askd@db/askd")
        // A base64 password with an unencoded `/`: libpq cannot read it, and it stays hidden.
        #expect(PostgresStore.redacted("postgres://u:Ab/c+d@h/db") == "postgres://u:***@h/db")
        #expect(PostgresStore.redacted("postgresql:///askd?host=/run/postgresql") == "postgresql:///askd?host=/run/postgresql")
        #expect(PostgresStore.redacted("host=db password = 's3 cret' user=askd") == "host=db password = *** user=askd")
    }

    /// A server that stops answering while its kernel still acknowledges (stopped here with
    /// SIGSTOP; or stuck, or a pooler in front of a dead one) makes a call unavailable after the
    /// statement timeout and two seconds, not a wait for as long as it stays so.
    @Test(.timeLimit(.minutes(1))) func aServerThatStopsAnsweringIsUnavailableWithinTheStatementTimeout() throws {
        let cluster = try PostgresTestCluster.start()
        defer { cluster.stop() }
        let url = try cluster.createDatabase()
        let store = try PostgresStore(url: url, maxConnections: 2, statementTimeoutMilliseconds: 500)
        let sender = try PostgresStore(url: url, maxConnections: 1, statementTimeoutMilliseconds: 500)
        #expect(try store.allTokens() == [])  // a pooled connection each, open
        #expect(try sender.allTokens() == [])
        let postmaster = try #require(
            (try? String(contentsOfFile: cluster.directory + "/data/postmaster.pid", encoding: .utf8))?.split(separator: "\n").first
                .flatMap { Int32($0) }
        )
        func signalCluster(_ signal: String) {
            _ = try? PostgresTestCluster.shell("kill -\(signal) \(postmaster) $(pgrep -P \(postmaster)) 2>/dev/null; true")
        }
        signalCluster("STOP")
        defer { signalCluster("CONT") }
        let started = Date()
        let error = #expect(throws: StoreError.self) { try store.allTokens() }
        #expect(Date().timeIntervalSince(started) < 10, "gave up after \(Date().timeIntervalSince(started)) s")
        guard case .unavailable(let why) = error else {
            Issue.record("not unavailable: \(String(describing: error))")
            return
        }
        #expect(why.contains("did not answer within 2500 ms"), "\(why)")
        // Sending is bounded too: 16 MB fill the socket's buffers, which nobody empties.
        let sending = Date()
        let big = Turn(
            conversationID: "c1", owner: "t", startsConversation: true, prompt: String(repeating: "x", count: 16 << 20), answer: "a",
            model: "m", usage: nil, date: Date()
        )
        let sendError = #expect(throws: StoreError.self) { try sender.commitTurn(big) }
        #expect(Date().timeIntervalSince(sending) < 10, "gave up sending after \(Date().timeIntervalSince(sending)) s")
        #expect(String(describing: sendError).contains("did not answer within 2500 ms"), "\(String(describing: sendError))")
        signalCluster("CONT")
        try waitFor { (try? store.allTokens()) == [] }
    }

    /// A store opened while its database is down (a server starting at boot, or in a failover)
    /// opens all the same, is unavailable meanwhile, and migrates the database once it is back.
    @Test func aStoreOpenedWhileTheDatabaseIsDownMigratesItOnceItIsBack() throws {
        let cluster = try PostgresTestCluster.start()
        defer { cluster.stop() }
        let url = try cluster.createDatabase()
        try cluster.pause()
        #expect(throws: StoreError.self, "without waiting, opening fails") { try PostgresStore(url: url, statementTimeoutMilliseconds: 2_000) }
        let store = try PostgresStore(url: url, statementTimeoutMilliseconds: 2_000, migrateOnceReachable: true)
        #expect(store.migrationIsPending)
        let error = #expect(throws: StoreError.self) { try store.allTokens() }
        guard case .unavailable = error else {
            Issue.record("not unavailable: \(String(describing: error))")
            return
        }

        try cluster.resume()
        // Within a second of the last failed attempt, callers are told that failure again.
        try waitFor { (try? store.allTokens()) == [] }
        #expect(!store.migrationIsPending)
        #expect(try store.schemaVersion() == PostgresMigrations.latestVersion)
    }

    /// While the store waits to migrate, callers do not queue for the migration's connection
    /// attempts: one thread tries, the others are told at once that the store is unavailable.
    /// The server here accepts connections (its kernel does) and never answers.
    @Test(.timeLimit(.minutes(1))) func callersDoNotQueueForAPendingMigration() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try #require(bind(listener, $0, length) == 0 && listen(listener, 64) == 0 && getsockname(listener, $0, &length) == 0)
            }
        }
        let url = "postgresql://askd@127.0.0.1:\(UInt16(bigEndian: address.sin_port))/askd?connect_timeout=2"
        let store = try PostgresStore(url: url, maxConnections: 8, statementTimeoutMilliseconds: 2_000, migrateOnceReachable: true)
        #expect(store.migrationIsPending)
        let started = Date()
        let finished = Locked<[(seconds: Double, unavailable: Bool)]>([])
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            var unavailable = false
            do { _ = try store.allTokens() } catch StoreError.unavailable { unavailable = true } catch {}
            let seconds = Date().timeIntervalSince(started)
            finished.withLock { $0.append((seconds, unavailable)) }
        }
        let outcomes = finished.withLock { $0 }
        #expect(outcomes.count == 6 && outcomes.allSatisfy(\.unavailable))
        let slowest = outcomes.map(\.seconds).max() ?? 0
        #expect(slowest < 4, "each caller waited its turn: the slowest took \(slowest) s")
    }

    /// The same store instance, across a server restart: unavailable while the server is down,
    /// working again once it is back, with no new store.
    @Test func aStoreRecoversByItselfAfterTheServerRestarts() throws {
        // A cluster of its own: stopping the shared one would fail the tests running beside this.
        let cluster = try PostgresTestCluster.start()
        defer { cluster.stop() }
        let store = try PostgresStore(url: try cluster.createDatabase(), maxConnections: 4, statementTimeoutMilliseconds: 2_000)
        let alice = makeToken("alice")
        try store.insertToken(alice)
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "before"))
        // Several idle connections in the pool, all of which the restart ends.
        DispatchQueue.concurrentPerform(iterations: 4) { _ in _ = try? store.messages(conversationID: "c1") }

        try cluster.pause()
        for operation in [
            { try store.checkAvailable() },
            { _ = try store.allTokens() },
            { try store.commitTurn(turn("c1", owner: alice.id, starts: false, "while down")) },
            { try store.withTurnLock(conversationID: "c1", timeout: 1) {} },
        ] {
            let error = #expect(throws: StoreError.self) { try operation() }
            guard case .unavailable = error else { Issue.record("not unavailable: \(String(describing: error))"); continue }
        }

        try cluster.resume()
        try store.checkAvailable()
        #expect(try store.allTokens() == [alice])
        try store.withTurnLock(conversationID: "c1", timeout: 5) {
            try store.commitTurn(turn("c1", owner: alice.id, starts: false, "after"))
        }
        #expect(try store.messages(conversationID: "c1").map(\.content) == ["before", "echo: before", "after", "echo: after"])

        // A restart while the store is idle ends every pooled connection; the store notices
        // before using one, so not a single operation fails.
        DispatchQueue.concurrentPerform(iterations: 4) { _ in _ = try? store.messages(conversationID: "c1") }
        try cluster.pause()
        try cluster.resume()
        try store.checkAvailable()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            #expect(throws: Never.self) { try store.messages(conversationID: "c1") }
        }
    }

    @Test func aStatementPastTheTimeoutIsUnavailableAndTheStoreGoesOn() throws {
        let url = try newDatabase()
        let store = try PostgresStore(url: url, maxConnections: 2, statementTimeoutMilliseconds: 100)
        try store.insertToken(makeToken("alice"))
        // Connections say who they are.
        #expect(try PostgresTestCluster.psql(url, "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'askd'") == "t")

        let holder = try #require(PostgresTestCluster.psqlInBackground(url, "BEGIN; LOCK TABLE tokens; SELECT pg_sleep(0.8)"))
        // Once psql holds the lock, reading tokens waits past the timeout.
        var failure: StoreError?
        let deadline = Date().addingTimeInterval(0.6)
        while failure == nil && Date() < deadline {
            do {
                _ = try store.allTokens()
                usleep(10_000)
            } catch let error as StoreError {
                failure = error
            }
        }
        #expect(pclose(holder) == 0)
        guard case .unavailable(let why) = failure else {
            Issue.record("not unavailable: \(String(describing: failure))")
            return
        }
        #expect(why.contains("57014"), "\(why)")
        #expect(try store.allTokens().count == 1)
    }
}
