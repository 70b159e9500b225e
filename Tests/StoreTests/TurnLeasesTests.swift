import Foundation
import Platform
import Synchronization
import Testing
@testable import Store

struct TurnLeasesTests {
    /// Held locks are renewed, every third of the lease, until given back.
    @Test func heldLocksAreRenewedUntilGivenBack() throws {
        let renewed = Locked<[[String]]>([])
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

    /// A waiter writes nothing while the lease is held elsewhere: it only looks (reads), at
    /// most every `pollSeconds` after its first pauses, and takes once the lease looks free.
    @Test func waitingLooksWithoutWritingUntilTheLeaseIsFree() throws {
        let leases = TurnLeases(leaseSeconds: 30, renew: { _, _ in }, release: { _ in })
        defer { leases.stop() }
        let heldElsewhere = Atomic<Bool>(true)
        let takes = Atomic<Int>(0)
        let looks = Atomic<Int>(0)
        func take() -> TurnLock? {
            takes.add(1, ordering: .relaxed)
            return heldElsewhere.load(ordering: .relaxed) ? nil : TurnLock(conversationID: "a", holder: "w")
        }
        #expect(throws: StoreError.self) {
            try leases.acquire(conversationID: "a", timeout: 1, take: take) {
                looks.add(1, ordering: .relaxed)
                return heldElsewhere.load(ordering: .relaxed)
            }
        }
        #expect(takes.load(ordering: .relaxed) == 1, "one try on arrival, none while the lease is held")
        #expect((8...20).contains(looks.load(ordering: .relaxed)), "\(looks.load(ordering: .relaxed)) looks in 1 s")

        takes.store(0, ordering: .relaxed)
        let freeing = Thread { Thread.sleep(forTimeInterval: 0.3); heldElsewhere.store(false, ordering: .relaxed) }
        freeing.start()
        let lock = try leases.acquire(conversationID: "a", timeout: 5, take: take) { heldElsewhere.load(ordering: .relaxed) }
        #expect(lock.holder == "w")
        #expect(takes.load(ordering: .relaxed) == 2)
        leases.giveBack(lock)
    }

    /// A release in this process hands the lease to the conversation's first waiter at once,
    /// without waiting for its next look.
    @Test func aReleaseHereWakesTheFirstWaiterAtOnce() throws {
        let leases = TurnLeases(leaseSeconds: 30, renew: { _, _ in }, release: { _ in })
        defer { leases.stop() }
        let holder = Locked<String?>("first")
        @Sendable func take(_ name: String) -> TurnLock? {
            holder.withLock { current in
                guard current == nil else { return nil }
                current = name
                return TurnLock(conversationID: "a", holder: name)
            }
        }
        let first = TurnLock(conversationID: "a", holder: "first")
        leases.hold(first)
        let waited = Locked<Double?>(nil)
        let waiter = Thread {
            let start = Date()
            // The look never sees the lease free: only the release can hand it over.
            if let lock = try? leases.acquire(conversationID: "a", timeout: 10, take: { take("second") }, isHeld: { true }) {
                waited.withLock { $0 = Date().timeIntervalSince(start) }
                leases.giveBack(lock)
            }
        }
        waiter.start()
        Thread.sleep(forTimeInterval: 0.5)
        holder.withLock { $0 = nil }
        let released = Date()
        leases.giveBack(first)
        try waitFor { waited.withLock { $0 != nil } }
        #expect(Date().timeIntervalSince(released) < 0.05)
        #expect(holder.withLock { $0 } == "second")
    }
}
