import Foundation
import Store
import Testing

/// The limits part of the `ConversationStore` contract, run against every backend: settings
/// kept and changed, and counters that every handle on the same data (another process, another
/// host) shares exactly.
@Suite struct TokenLimitsConformanceTests {
    private func limited(_ name: String, _ limits: TokenLimits) -> TokenRecord {
        var token = makeToken(name)
        token.limits = limits
        return token
    }

    @Test(arguments: StoreBackend.allCases)
    func limitsAreStoredUpdatedAndSeenByEveryHandle(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let alice = limited("alice", TokenLimits(requestsPerMinute: 5, tokensPerMinute: 900, tokensPerDay: 10_000, maxParallel: 2, models: ["a", "b"]))
        try store.insertToken(alice)
        try store.insertToken(makeToken("bob"))
        #expect(try store.token(hash: alice.hash) == alice)
        #expect(try store.allTokens().first?.limits == alice.limits)
        let other = try reopen()
        #expect(try other.token(hash: alice.hash)?.limits.requestsPerMinute == 5)

        var change = TokenChange()
        change.requestsPerMinute = .some(7)
        change.tokensPerMinute = .some(nil)
        change.models = .some(["c"])
        change.name = "carol"
        let updated = try #require(try store.updateToken(idOrName: "alice", change: change))
        #expect(updated.name == "carol")
        #expect(updated.limits == TokenLimits(requestsPerMinute: 7, tokensPerMinute: nil, tokensPerDay: 10_000, maxParallel: 2, models: ["c"]))
        #expect(try store.token(hash: alice.hash) == updated, "the changing handle sees it at once")
        // SQLite's other handles see it at once; PostgreSQL's within the notification's milliseconds.
        try waitFor(seconds: 0.5) { (try? other.token(hash: alice.hash)) == updated }

        var rename = TokenChange()
        rename.name = "bob"
        #expect(throws: StoreError.self) { try store.updateToken(idOrName: alice.id, change: rename) }
        #expect(try store.updateToken(idOrName: "nobody", change: change) == nil)
        var clear = TokenChange()
        clear.requestsPerMinute = .some(nil)
        clear.tokensPerDay = .some(nil)
        clear.maxParallel = .some(nil)
        clear.models = .some(nil)
        #expect(try store.updateToken(idOrName: alice.id, change: clear)?.limits == TokenLimits())
    }

    @Test(arguments: StoreBackend.allCases)
    func requestsPerMinuteAdmitExactlyTheLimitAcrossHandles(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let token = limited("alice", TokenLimits(requestsPerMinute: 3))
        try store.insertToken(token)
        let other = try reopen()
        let now = Date()
        var tickets: [AdmissionTicket] = []
        for index in 0..<6 {
            let handle = index.isMultiple(of: 2) ? store : other
            let admission = try handle.admit(tokenID: token.id, limits: token.limits, at: now)
            if let ticket = admission.ticket { tickets.append(ticket) }
            #expect(admission.readings.requestsInWindow == min(index, 3))
        }
        #expect(tickets.count == 3)
        let refused = try store.admit(tokenID: token.id, limits: token.limits, at: now)
        #expect(refused.ticket == nil)
        #expect(RateWindow.refusal(token.limits, refused.readings) == .requestsPerMinute(3))
        let state = RateWindow.state(token.limits, refused.readings, admitted: false, at: refused.readings.at)
        #expect(state.remainingRequests == 0)
        #expect((59...61).contains(state.retryAfter ?? 0), "until the first second leaves the window: \(state.retryAfter ?? -1)")

        // A request that never reached the model gives its place back; one that did keeps it.
        other.finishAdmission(tickets[0], tokens: 0, counted: false, at: now)
        store.finishAdmission(tickets[1], tokens: 10, counted: true, at: now)
        #expect(try store.limitReadings(tokenID: token.id, limits: token.limits, at: now).requestsInWindow == 2)
        #expect(try other.admit(tokenID: token.id, limits: token.limits, at: now).ticket != nil)
        #expect(try store.admit(tokenID: token.id, limits: token.limits, at: now).ticket == nil)
    }

    @Test(arguments: StoreBackend.allCases)
    func aBurstOverTwoHandlesGetsExactlyTheLimit(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let token = limited("alice", TokenLimits(requestsPerMinute: 10, maxParallel: 40))
        try store.insertToken(token)
        let handles = [store, try reopen()]
        let admitted = Counter()
        DispatchQueue.concurrentPerform(iterations: 50) { index in
            if (try? handles[index % 2].admit(tokenID: token.id, limits: token.limits, at: Date()).ticket) != nil { admitted.add() }
        }
        #expect(admitted.value == 10)
        let readings = try store.limitReadings(tokenID: token.id, limits: token.limits, at: Date())
        #expect(readings.requestsInWindow == 10)
        #expect(readings.slotsInUse == 10)
    }

    @Test(arguments: StoreBackend.allCases)
    func parallelSlotsAreSharedAndFreedByFinishOrByTheTurnThatCarriesThem(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let token = limited("alice", TokenLimits(tokensPerMinute: 1_000, maxParallel: 2))
        try store.insertToken(token)
        let other = try reopen()
        let first = try #require(try store.admit(tokenID: token.id, limits: token.limits, at: Date()).ticket)
        let second = try #require(try other.admit(tokenID: token.id, limits: token.limits, at: Date()).ticket)
        #expect(first.slot != nil && first.slot != second.slot)
        let refused = try store.admit(tokenID: token.id, limits: token.limits, at: Date())
        #expect(refused.ticket == nil)
        #expect(RateWindow.refusal(token.limits, refused.readings) == .maxParallel(2))

        other.finishAdmission(second, tokens: 0, counted: true, at: Date())
        let third = try #require(try store.admit(tokenID: token.id, limits: token.limits, at: Date()).ticket)
        // A stored turn frees its slot and counts its tokens (3 + 5) in the same transaction.
        var stored = turn("c1", owner: token.id, starts: true, "hello", at: Date().milliseconds)
        stored.admission = third
        try store.commitTurn(stored)
        let readings = try other.limitReadings(tokenID: token.id, limits: token.limits, at: Date())
        #expect(readings.slotsInUse == 1)
        #expect(readings.tokensInWindow == 8)
        store.finishAdmission(first, tokens: 0, counted: true, at: Date())
        #expect(try other.limitReadings(tokenID: token.id, limits: token.limits, at: Date()).slotsInUse == 0)
    }

    @Test(arguments: StoreBackend.allCases)
    func aReservationCountsSeveralRequestsAndGivesBackWhatWasNotUsed(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let roomy = limited("alice", TokenLimits(requestsPerMinute: 10_000, maxParallel: 10_000))
        let tight = limited("bob", TokenLimits(requestsPerMinute: 40, maxParallel: 40))
        try store.insertToken(roomy)
        try store.insertToken(tight)
        let other = try reopen()
        let reserved = try #require(try store.admit(tokenID: roomy.id, limits: roomy.limits, at: Date(), wanted: 64).ticket)
        #expect(reserved.count == 64)
        var readings = try other.limitReadings(tokenID: roomy.id, limits: roomy.limits, at: Date())
        #expect(readings.requestsInWindow == 64 && readings.slotsInUse == 64, "every process sees the whole reservation counted")
        // 20 never reached the model or were not handed out; 30 slots are still in use; 500 tokens were used.
        try store.settle([Settlement(reserved, returning: 20, slotsKept: 30, tokens: 500)], at: Date())
        readings = try other.limitReadings(tokenID: roomy.id, limits: roomy.limits, at: Date())
        #expect(readings.requestsInWindow == 44 && readings.slotsInUse == 30 && readings.tokensInWindow == 500)
        try store.settle([Settlement(reserved, returning: 0, slotsKept: 0, tokens: 0)], at: Date())
        #expect(try other.limitReadings(tokenID: roomy.id, limits: roomy.limits, at: Date()).slotsInUse == 0)

        // Near its limits a token is granted a 16th of the room left, and at least one request.
        let near = try #require(try store.admit(tokenID: tight.id, limits: tight.limits, at: Date(), wanted: 64).ticket)
        #expect(near.count == 2)
        var admitted = 2
        while let ticket = try other.admit(tokenID: tight.id, limits: tight.limits, at: Date(), wanted: 64).ticket { admitted += ticket.count }
        #expect(admitted == 40, "reservations never admit past the limit")
    }

    @Test(arguments: [StoreBackend.sqlite, .postgres])
    func theSlotsOfAHandleThatStopsRenewingRunOutWithinTheLease(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make(leaseSeconds: 1)
        let token = limited("alice", TokenLimits(maxParallel: 1))
        try store.insertToken(token)
        try {
            // Held past its lease while its handle lives: renewed.
            let dying = try reopen()
            #expect(try dying.admit(tokenID: token.id, limits: token.limits, at: Date()).ticket != nil)
            Thread.sleep(forTimeInterval: 1.6)
            #expect(try store.admit(tokenID: token.id, limits: token.limits, at: Date()).ticket == nil, "renewed while its process lives")
        }()
        // The handle is gone without finishing, as with a process that died: its renewals stopped.
        let started = Date()
        try waitFor(seconds: 3) { (try? store.admit(tokenID: token.id, limits: token.limits, at: Date()).ticket) != nil }
        #expect(Date().timeIntervalSince(started) < 2.5)
    }

    @Test(arguments: StoreBackend.allCases)
    func theDaysTokensAndTheMinutesTokensRefuseOnceUsedUp(backend: StoreBackend) throws {
        let store = try backend.make().store
        let daily = limited("alice", TokenLimits(tokensPerDay: 16))
        let minute = limited("bob", TokenLimits(tokensPerMinute: 20))
        try store.insertToken(daily)
        try store.insertToken(minute)
        // Two turns of 8 tokens each (the test turn's usage) use the day up.
        for (index, id) in ["c1", "c2"].enumerated() {
            #expect(try store.admit(tokenID: daily.id, limits: daily.limits, at: Date()).readings.tokensToday == index * 8)
            try store.commitTurn(turn(id, owner: daily.id, starts: true, "hi", at: Date().milliseconds))
        }
        let spent = try store.admit(tokenID: daily.id, limits: daily.limits, at: Date())
        #expect(spent.ticket == nil)
        #expect(RateWindow.refusal(daily.limits, spent.readings) == .tokensPerDay(16))
        let state = RateWindow.state(daily.limits, spent.readings, admitted: false, at: spent.readings.at)
        #expect(abs((state.retryAfter ?? 0) - RateWindow.secondsToMidnight(after: spent.readings.at)) < 1)

        let ticket = try #require(try store.admit(tokenID: minute.id, limits: minute.limits, at: Date()).ticket)
        store.finishAdmission(ticket, tokens: 25, counted: true, at: Date())
        let over = try store.admit(tokenID: minute.id, limits: minute.limits, at: Date())
        #expect(over.ticket == nil)
        #expect(over.readings.tokensInWindow == 25)
        #expect(RateWindow.refusal(minute.limits, over.readings) == .tokensPerMinute(20))
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
