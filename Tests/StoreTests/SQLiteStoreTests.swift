import Foundation
@testable import SQLiteStore
import Store
import Testing

/// What only the SQLite backend promises: its file, its schema and WAL.
struct SQLiteStoreTests {
    private func temporaryPath() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("askd-sqlite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("askd.sqlite").path
    }

    @Test func aNewFileIsMigratedToTheLatestSchemaInWALMode() throws {
        let path = try temporaryPath()
        let store = try SQLiteStore(path: path)
        #expect(try store.schemaVersion() == SQLiteMigrations.latestVersion)
        // Opening again (another process starting) migrates nothing and keeps the data.
        try store.insertToken(makeToken("alice"))
        let again = try SQLiteStore(path: path)
        #expect(try again.schemaVersion() == SQLiteMigrations.latestVersion)
        #expect(try again.allTokens().count == 1)
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
    }

    @Test func manyHandlesStartingAtOnceMigrateOnce() throws {
        let path = try temporaryPath()
        let errors = LockedCounts()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            do {
                let store = try SQLiteStore(path: path)
                _ = try store.allTokens()
            } catch {
                errors.fail("\(error)")
            }
        }
        #expect(errors.failures.isEmpty, "\(errors.failures)")
        #expect(try SQLiteStore(path: path).schemaVersion() == SQLiteMigrations.latestVersion)
    }

    @Test func theLogIsCopiedBackWhileTurnsKeepComing() throws {
        let path = try temporaryPath()
        let store = try SQLiteStore(path: path)
        let alice = makeToken("alice")
        try store.insertToken(alice)
        let prompt = String(repeating: "x", count: 4_000)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for index in 0..<2_250 {
                try? store.commitTurn(turn("c\(thread)-\(index)", owner: alice.id, starts: true, prompt))
            }
        }
        // 9,000 turns of 8 KB: without checkpoints the database file would still be empty and
        // the log over 72 MB. The background checkpointer copies the log back as it grows, and
        // starts it over past 4,000 pages (16 MB), however busy the writers are; writers go on
        // while it works, so the log ends up somewhat longer than that.
        let size = { (file: String) in (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0 }
        try waitFor { size(path) > 60_000_000 }
        #expect(size(path + "-wal") < 40_000_000)
        #expect(try store.allTokens().count == 1)
    }

    @Test func aFailingTurnInAGroupCommitUndoesOnlyItself() throws {
        let store = try SQLiteStore(path: try temporaryPath())
        let alice = makeToken("alice")
        try store.insertToken(alice)
        let outcomes = LockedCounts()
        // 8 threads at once, so that turns share commits; every third continues a conversation
        // that does not exist, and every fifth starts one whose id is taken.
        try store.commitTurn(turn("taken", owner: alice.id, starts: true, "first"))
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<60 {
                let id = "c\(thread)-\(index)"
                let attempt = index % 3 == 0
                    ? turn("missing-\(id)", owner: alice.id, starts: false, "p")
                    : index % 5 == 0 ? turn("taken", owner: alice.id, starts: true, "p") : turn(id, owner: alice.id, starts: true, "p")
                do {
                    try store.commitTurn(attempt)
                    outcomes.record(1)
                } catch let error as StoreError {
                    if case .conversationNotFound = error, index % 3 == 0 { outcomes.record(0); continue }
                    if case .duplicate = error, index % 5 == 0 { outcomes.record(0); continue }
                    outcomes.fail("\(id): \(error)")
                } catch {
                    outcomes.fail("\(id): \(error)")
                }
            }
        }
        #expect(outcomes.failures.isEmpty, "\(outcomes.failures)")
        let stored = outcomes.counts.reduce(0, +)
        #expect(stored == 8 * (60 - 20 - 8))
        #expect(try store.messages(conversationID: "taken").count == 2)
        #expect(try store.messages(conversationID: "c3-1").map(\.sequence) == [1, 2])
        #expect(try store.messages(conversationID: "c3-0").isEmpty)
        #expect(try store.usage(owner: alice.id, day: Date.at(1_795_700_001_000).usageDay).total.requests == stored + 1)
    }

    @Test func anUnopenablePathIsUnavailableNamingThePath() {
        let error = #expect(throws: StoreError.self) { try SQLiteStore(path: "/nonexistent-dir/askd.sqlite") }
        #expect(error?.description.contains("/nonexistent-dir/askd.sqlite") == true)
    }
}
