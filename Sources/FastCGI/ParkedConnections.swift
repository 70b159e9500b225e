#if canImport(Glibc)
import Glibc
#endif
import CFastCGI

/// The kept-alive connections parked in the `ReadySet`, so that exactly one party takes each:
/// the worker that claims it when a request arrives, or the stop that closes it.
///
/// Sharded by address, each shard behind a plain pthread mutex: a claim or a park holds a lock
/// for one set operation. (Swift's `Mutex` uses priority-inheritance futexes on Linux, which go
/// to the kernel on every contended acquire; measured here, that halved throughput.)
final class ParkedConnections: @unchecked Sendable {
    private struct Shard {
        let lock: UnsafeMutablePointer<pthread_mutex_t>
        var addresses: Set<UInt> = []
    }

    private static let shardCount = 16
    private let shards: UnsafeMutablePointer<Shard>
    /// Set, under every shard's lock, when the server stops.
    private var stopped = false

    init() {
        shards = .allocate(capacity: Self.shardCount)
        for index in 0..<Self.shardCount {
            let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
            pthread_mutex_init(lock, nil)
            (shards + index).initialize(to: Shard(lock: lock))
        }
    }

    deinit {
        for index in 0..<Self.shardCount {
            pthread_mutex_destroy(shards[index].lock)
            shards[index].lock.deallocate()
        }
        shards.deinitialize(count: Self.shardCount)
        shards.deallocate()
    }

    /// Records `request` as parked; `false` once stopped.
    func insert(_ request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
        let address = UInt(bitPattern: request)
        return withShard(for: address) { shard in
            guard !stopped else { return false }
            shard.addresses.insert(address)
            return true
        }
    }

    /// Takes a parked request out; `nil` if it is not (or no longer) parked.
    func claim(_ address: UInt) -> UnsafeMutablePointer<FCGX_Request>? {
        withShard(for: address) { shard in
            shard.addresses.remove(address) == nil ? nil : UnsafeMutablePointer<FCGX_Request>(bitPattern: address)
        }
    }

    /// Stops parking and returns every request still parked, now owned by the caller.
    func stop() -> [UnsafeMutablePointer<FCGX_Request>] {
        var taken: [UnsafeMutablePointer<FCGX_Request>] = []
        for index in 0..<Self.shardCount { pthread_mutex_lock(shards[index].lock) }
        stopped = true
        for index in 0..<Self.shardCount {
            taken += shards[index].addresses.compactMap { UnsafeMutablePointer<FCGX_Request>(bitPattern: $0) }
            shards[index].addresses.removeAll()
        }
        for index in 0..<Self.shardCount { pthread_mutex_unlock(shards[index].lock) }
        return taken
    }

    private func withShard<T>(for address: UInt, _ body: (inout Shard) -> T) -> T {
        // FCGX_Request blocks are 16-byte aligned heap allocations: skip the always-zero bits.
        let shard = shards + Int((address >> 4) % UInt(Self.shardCount))
        pthread_mutex_lock(shard.pointee.lock)
        defer { pthread_mutex_unlock(shard.pointee.lock) }
        return body(&shard.pointee)
    }
}
