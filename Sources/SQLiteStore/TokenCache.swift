import FoundationEssentials
import Store

/// The token rows this process read, each kept with the `TokenGeneration` number read just
/// before it and used only while that number stays the same, and for at most `maxAge` seconds
/// (which bounds what a change made behind askd's back, in the sqlite3 shell, or a process
/// killed between its commit and its `TokenGeneration.change`, could leave unseen).
/// Only tokens that exist are kept: an unknown hash is looked up every time.
final class TokenCache: Sendable {
    static let maxAge = 1.0
    static let capacity = 1_024

    private struct Entry {
        let record: TokenRecord
        let generation: UInt64
        let loadedAt: Double
    }

    private let entries = ReadWriteLocked<[String: Entry]>([:])

    /// The row for `hash`, if it was read under `generation` less than `maxAge` ago.
    func record(hash: String, generation: UInt64, now: Double) -> TokenRecord? {
        entries.read { entries in
            guard let entry = entries[hash], entry.generation == generation, now - entry.loadedAt < Self.maxAge else { return nil }
            return entry.record
        }
    }

    func store(_ record: TokenRecord, hash: String, generation: UInt64, now: Double) {
        entries.write { entries in
            if entries.count >= Self.capacity && entries[hash] == nil { entries.removeAll(keepingCapacity: true) }
            entries[hash] = Entry(record: record, generation: generation, loadedAt: now)
        }
    }
}
