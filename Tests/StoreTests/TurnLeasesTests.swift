import Foundation
import Synchronization
import Testing
@testable import Store

struct TurnLeasesTests {
    /// Held locks are renewed, every third of the lease, until given back.
    @Test func heldLocksAreRenewedUntilGivenBack() throws {
        let renewed = Mutex<[[String]]>([])
        let leases = TurnLeases(
            leaseSeconds: 0.3, renew: { locks, _ in renewed.withLock { $0.append(locks.map(\.conversationID).sorted()) } }, release: { _ in }
        )
        defer { leases.stop() }
        leases.hold(TurnLock(conversationID: "a", holder: "1"))
        leases.hold(TurnLock(conversationID: "b", holder: "2"))
        try waitFor { renewed.withLock { $0.filter { $0 == ["a", "b"] }.count >= 2 } }
        leases.giveBack(TurnLock(conversationID: "a", holder: "1"))
        let count = renewed.withLock { $0.count }
        try waitFor { renewed.withLock { $0.count >= count + 2 } }
        #expect(renewed.withLock { $0.last } == ["b"])
    }

    /// A release the database refused is tried again at the renewals until it goes through.
    @Test func aFailedReleaseIsRetried() throws {
        let failures = Atomic<Int>(2)
        let released = Atomic<Int>(0)
        struct Refused: Error {}
        let leases = TurnLeases(leaseSeconds: 3, renew: { _, _ in }) { _ in
            if failures.subtract(1, ordering: .relaxed).newValue >= 0 { throw Refused() }
            released.add(1, ordering: .relaxed)
        }
        defer { leases.stop() }
        let lock = TurnLock(conversationID: "a", holder: "1")
        leases.hold(lock)
        leases.giveBack(lock)
        #expect(leases.counts == (0, 1))
        try waitFor { released.load(ordering: .relaxed) == 1 }
        try waitFor { leases.counts == (0, 0) }
    }

    /// One that keeps failing is dropped once its lease has run out anyway.
    @Test func aReleaseThatKeepsFailingIsDroppedWhenItsLeaseIsOver() throws {
        struct Refused: Error {}
        let leases = TurnLeases(leaseSeconds: 0.3, renew: { _, _ in }) { _ in throw Refused() }
        defer { leases.stop() }
        let lock = TurnLock(conversationID: "a", holder: "1")
        leases.hold(lock)
        leases.giveBack(lock)
        #expect(leases.counts == (0, 1))
        try waitFor { leases.counts == (0, 0) }
    }
}
