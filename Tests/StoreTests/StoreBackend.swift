import Foundation
import PostgresStore
import SQLiteStore
import Store

/// Every `ConversationStore` backend the conformance suite runs against.
enum StoreBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// A new, empty store, and a way to open a second handle on the same data (another
    /// process's view, for SQLite; another host's, for PostgreSQL).
    /// Turn locks last `leaseSeconds` unless renewed.
    func make(leaseSeconds: Double = 30) throws -> (store: any ConversationStore, reopen: () throws -> any ConversationStore) {
        switch self {
        case .memory:
            let store = MemoryStore()
            return (store, { store })
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("askd-store-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let path = directory.appendingPathComponent("askd.sqlite").path
            return (try SQLiteStore(path: path, leaseSeconds: leaseSeconds), { try SQLiteStore(path: path, leaseSeconds: leaseSeconds) })
        case .postgres:
            // A database of its own on the cluster this process shares.
            let url = try PostgresTestCluster.shared.get().createDatabase()
            return (try PostgresStore(url: url, leaseSeconds: leaseSeconds), { try PostgresStore(url: url, leaseSeconds: leaseSeconds) })
        }
    }
}

import Testing

extension Date {
    /// A date with whole milliseconds, the precision every backend keeps.
    static func at(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}

func makeToken(_ name: String, created: Int64 = 1_795_700_000_000) -> TokenRecord {
    TokenRecord(id: "tok-\(name)", name: name, hash: String(repeating: "0", count: 56) + String(name.hashValue & 0xFFFF, radix: 16).padding(toLength: 8, withPad: "0", startingAt: 0), createdAt: .at(created))
}

func turn(_ conversation: String, owner: String, starts: Bool, _ prompt: String, at milliseconds: Int64 = 1_795_700_001_000) -> Turn {
    Turn(
        conversationID: conversation, owner: owner, startsConversation: starts, prompt: prompt, answer: "echo: \(prompt)",
        model: "test-model", usage: TokenUsage(promptTokens: 3, completionTokens: 5, totalTokens: 8), date: .at(milliseconds)
    )
}
