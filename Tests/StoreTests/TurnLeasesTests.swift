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
        @Sendable func take() -> TurnLock? {
            takes.add(1, ordering: .relaxed)
            return heldElsewhere.load(ordering: .relaxed) ? nil : TurnLock(conversationID: "a", holder: "w")
        }
        #expect(throws: StoreError.self) {
            try acquire(on: leases, conversationID: "a", timeout: 1, take: take) {
                looks.add(1, ordering: .relaxed)
                return heldElsewhere.load(ordering: .relaxed)
            }
        }
        #expect(takes.load(ordering: .relaxed) == 1, "one try on arrival, none while the lease is held")
        #expect((8...20).contains(looks.load(ordering: .relaxed)), "\(looks.load(ordering: .relaxed)) looks in 1 s")

        takes.store(0, ordering: .relaxed)
        let freeing = Thread { Thread.sleep(forTimeInterval: 0.3); heldElsewhere.store(false, ordering: .relaxed) }
        freeing.start()
        let lock = try acquire(on: leases, conversationID: "a", timeout: 5, take: take) { heldElsewhere.load(ordering: .relaxed) }
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
            if let lock = try? acquire(on: leases, conversationID: "a", timeout: 10, take: { take("second") }, isHeld: { true }) {
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

    /// Many waiters hold no thread: a thousand wait on one conversation, and each gets the
    /// lease in turn as the one before gives it back.
    @Test func aThousandWaitersGetTheLeaseInTurnWithoutAThreadEach() throws {
        let leases = TurnLeases(leaseSeconds: 30, renew: { _, _ in }, release: { _ in })
        defer { leases.stop() }
        let holder = Locked<Int?>(-1)
        @Sendable func take(_ index: Int) -> TurnLock? {
            holder.withLock { current in
                guard current == nil else { return nil }
                current = index
                return TurnLock(conversationID: "a", holder: "\(index)")
            }
        }
        let order = Locked<[Int]>([])
        let first = TurnLock(conversationID: "a", holder: "-1")
        leases.hold(first)
        for index in 0..<1_000 {
            leases.acquire(conversationID: "a", timeout: 30, take: { take(index) }, isHeld: { true }) { result in
                guard case .success(let lock) = result else { return }
                order.withLock { $0.append(index) }
                holder.withLock { $0 = nil }
                leases.giveBack(lock)
            }
        }
        #expect(leases.waiting == 1_000)
        holder.withLock { $0 = nil }
        leases.giveBack(first)
        try waitFor { order.withLock { $0.count } == 1_000 }
        #expect(order.withLock { $0 } == Array(0..<1_000), "first come, first served")
        #expect(leases.waiting == 0)
    }

    /// The waiters' time runs out with `turnLockTimedOut`, without a thread each.
    @Test func waitersWhoseTimeRunsOutAreTold() throws {
        let leases = TurnLeases(leaseSeconds: 30, renew: { _, _ in }, release: { _ in })
        defer { leases.stop() }
        let timedOut = Atomic<Int>(0)
        for _ in 0..<100 {
            leases.acquire(conversationID: "a", timeout: 0.3, take: { nil }, isHeld: { true }) { result in
                if case .failure(let error as StoreError) = result, case .turnLockTimedOut = error { timedOut.add(1, ordering: .relaxed) }
            }
        }
        try waitFor { timedOut.load(ordering: .relaxed) == 100 }
        #expect(leases.waiting == 0)
    }

    private func acquire(
        on leases: TurnLeases, conversationID: String, timeout: Double, take: @escaping TurnLeases.Take, isHeld: @escaping TurnLeases.IsHeld
    ) throws -> TurnLock {
        let outcome = Handoff<Result<TurnLock, any Error>>()
        leases.acquire(conversationID: conversationID, timeout: timeout, take: take, isHeld: isHeld) { outcome.put($0) }
        return try outcome.take().get()
    }
}
