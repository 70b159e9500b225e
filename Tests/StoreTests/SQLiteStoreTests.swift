import Foundation
import SQLiteStore
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
        #expect(try store.schemaVersion() == 3)
        // Opening again (another process starting) migrates nothing and keeps the data.
        try store.insertToken(makeToken("alice"))
        let again = try SQLiteStore(path: path)
        #expect(try again.schemaVersion() == 3)
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
        #expect(try SQLiteStore(path: path).schemaVersion() == 3)
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

    @Test func anUnopenablePathIsUnavailableNamingThePath() {
        let error = #expect(throws: StoreError.self) { try SQLiteStore(path: "/nonexistent-dir/askd.sqlite") }
        #expect(error?.description.contains("/nonexistent-dir/askd.sqlite") == true)
    }
}
