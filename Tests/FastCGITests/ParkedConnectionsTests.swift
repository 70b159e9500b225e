@testable import FastCGI
import Foundation
import Platform
import Testing

struct ParkedConnectionsTests {
    /// Workers park and claim connections of one shard at once, each taking the shard's lock
    /// while another holds it. `make tsan` reported this as a Swift access race (a worker read
    /// the shard's lock pointer while another changed the shard under that lock), and reports it
    /// again if the lock stops guarding exactly the state it is held for.
    @Test func workersParkAndClaimInOneShardAtOnce() {
        let parked = ParkedConnections()
        let threads = 4
        let rounds = 5_000
        let tally = Locked((parked: 0, claimed: 0, claimedTwice: 0))
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var counts = (parked: 0, claimed: 0, claimedTwice: 0)
            for round in 0..<rounds {
                // Multiples of 256 all fall in one shard; each thread has addresses of its own.
                let address = UInt((round * threads + thread + 1) * 256)
                if parked.insert(UnsafeMutablePointer(bitPattern: address)!) { counts.parked += 1 }
                if parked.claim(address) != nil { counts.claimed += 1 }
                if parked.claim(address) != nil { counts.claimedTwice += 1 }
            }
            tally.withLock { $0 = ($0.parked + counts.parked, $0.claimed + counts.claimed, $0.claimedTwice + counts.claimedTwice) }
        }
        let counts = tally.withLock { $0 }
        #expect(counts.parked == threads * rounds)
        #expect(counts.claimed == threads * rounds)
        #expect(counts.claimedTwice == 0, "a connection is claimed once")
        #expect(parked.stop().isEmpty)
        #expect(!parked.insert(UnsafeMutablePointer(bitPattern: UInt(256))!), "nothing is parked after a stop")
    }
}
