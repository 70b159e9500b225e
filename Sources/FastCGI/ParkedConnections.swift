#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import Platform

/// The kept-alive connections parked in the `ReadySet`, so that exactly one party takes each:
/// the worker that claims it when a request arrives, or the stop that closes it.
///
/// Sharded by address, each shard behind a plain pthread mutex (`Lock`): a claim or a park holds
/// a lock for one set operation. Swift's `Mutex` is a priority-inheritance futex on Linux, which
/// goes to the kernel on every contended acquire.
///
/// The locks and the sets they guard are in two buffers: a shard's lock is read, unlocked, by
/// every thread that takes it, and must not share memory with the set that its holder changes.
/// (With both in one struct, changing the set through `inout` was a modifying access of the
/// whole struct, lock pointer included: ThreadSanitizer reported a Swift access race.)
final class ParkedConnections: @unchecked Sendable {
    private static let shardCount = 16
    /// Set once in init, read by any thread; each lock guards the set at the same index.
    private let locks: [Lock]
    private let shards: UnsafeMutablePointer<Set<UInt>>
    /// Set, under every shard's lock, when the server stops.
    private var stopped = false

    init() {
        locks = (0..<Self.shardCount).map { _ in Lock() }
        shards = .allocate(capacity: Self.shardCount)
        shards.initialize(repeating: [], count: Self.shardCount)
    }

    deinit {
        shards.deinitialize(count: Self.shardCount)
        shards.deallocate()
    }

    /// Records `request` as parked; `false` once stopped.
    func insert(_ request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
        let address = UInt(bitPattern: request)
        return withShard(for: address) { addresses in
            guard !stopped else { return false }
            addresses.insert(address)
            return true
        }
    }

    /// Takes a parked request out; `nil` if it is not (or no longer) parked.
    func claim(_ address: UInt) -> UnsafeMutablePointer<FCGX_Request>? {
        withShard(for: address) { addresses in
            addresses.remove(address) == nil ? nil : UnsafeMutablePointer<FCGX_Request>(bitPattern: address)
        }
    }

    /// Stops parking and returns every request still parked, now owned by the caller.
    func stop() -> [UnsafeMutablePointer<FCGX_Request>] {
        var taken: [UnsafeMutablePointer<FCGX_Request>] = []
        for index in 0..<Self.shardCount { locks[index].lock() }
        stopped = true
        for index in 0..<Self.shardCount {
            taken += shards[index].compactMap { UnsafeMutablePointer<FCGX_Request>(bitPattern: $0) }
            shards[index].removeAll()
        }
        for index in 0..<Self.shardCount { locks[index].unlock() }
        return taken
    }

    private func withShard<T>(for address: UInt, _ body: (inout Set<UInt>) -> T) -> T {
        // FCGX_Request blocks are 16-byte aligned heap allocations: skip the always-zero bits.
        let index = Int((address >> 4) % UInt(Self.shardCount))
        locks[index].lock()
        defer { locks[index].unlock() }
        return body(&shards[index])
    }
}
