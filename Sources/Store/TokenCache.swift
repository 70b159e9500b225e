#if canImport(Glibc)
import Glibc
import Platform
#endif

/// The token rows this process read, each kept with a generation number read just before it
/// and used only while that number stays the same, and for at most `maxAge` seconds.
///
/// Each backend says how its generation changes whenever a token does, in any process: SQLite
/// by a number in a file beside the database, PostgreSQL by LISTEN/NOTIFY. `maxAge` bounds what
/// a change the backend did not see (one made behind askd's back, or by a process killed between
/// its commit and its announcement) could leave unseen. Only tokens that exist are kept: an
/// unknown hash is looked up every time.
public final class TokenCache: Sendable {
    public static let maxAge = 1.0
    static let capacity = 1_024

    private struct Entry {
        let record: TokenRecord
        let generation: UInt64
        let loadedAt: Double
    }

    private let entries = ReadWriteLocked<[String: Entry]>([:])

    public init() {}

    /// The row for `hash`, if it was read under `generation` less than `maxAge` ago.
    /// The row for `hash`: kept, if it was read under `generation` less than `maxAge` ago, or
    /// else read with `read` and kept. Without a generation (the backend cannot tell changes
    /// now), always read.
    public func record(hash: String, generation: UInt64?, read: (String) throws -> TokenRecord?) throws -> TokenRecord? {
        guard let generation else { return try read(hash) }
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        let now = Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
        if let record = record(hash: hash, generation: generation, now: now) { return record }
        let record = try read(hash)
        if let record { store(record, hash: hash, generation: generation, now: now) }
        return record
    }

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
