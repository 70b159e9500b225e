@testable import API
import Foundation
import Platform
import Store
import Testing

@Suite struct AllowanceBrokerTests {
    let date = Date(timeIntervalSince1970: 1_795_700_000.25)
    let roomy = TokenLimits(requestsPerMinute: 1_000_000, tokensPerMinute: 1_000_000_000, tokensPerDay: 1_000_000_000_000, maxParallel: 100_000)

    private func admit(_ broker: AllowanceBroker, _ limits: TokenLimits, token: String = "t") throws -> AllowanceBroker.Grant? {
        let grant = try broker.admit(tokenID: token, limits: limits, at: date)
        return grant.ticket == nil && grant.reservation == nil ? nil : grant
    }

    @Test func aBusyTokenAsksTheStoreForRequestsInGrowingReservations() throws {
        let store = CheckCountingStore()
        let broker = AllowanceBroker(store: store, interval: 60)
        var grants: [AllowanceBroker.Grant] = []
        for _ in 0..<200 { grants.append(try #require(try admit(broker, roomy))) }
        let asked = store.admissionsAsked.withLock { $0 }
        #expect(asked == [1, 2, 4, 8, 16, 32, 64, 128], "200 requests took \(asked.count) store admissions")
        #expect(grants.filter { $0.reservation != nil }.count == 199, "only the first, asked alone, has a ticket of its own")
        let readings = try store.limitReadings(tokenID: "t", limits: roomy, at: date)
        #expect(readings.requestsInWindow == 255, "the store counts what it reserved")
        #expect(readings.slotsInUse == 255)
        #expect(broker.adjusted(readings, tokenID: "t").requestsInWindow == 200, "unused requests are not shown as used")
        #expect(broker.adjusted(readings, tokenID: "t").slotsInUse == 200)
    }

    @Test func whatWasNotUsedGoesBackAndTokensAreCounted() throws {
        let store = MemoryStore()
        let broker = AllowanceBroker(store: store, interval: 60)
        var reserved: [AllowanceBroker.Reservation] = []
        for _ in 0..<100 {
            let grant = try #require(try admit(broker, roomy))
            if let reservation = grant.reservation { reserved.append(reservation) }
        }
        #expect(reserved.count == 99)
        for (index, reservation) in reserved.enumerated() {
            broker.finish(reservation, tokens: 10, counted: index % 3 != 0)
        }
        #expect(broker.settleAll())
        let readings = try store.limitReadings(tokenID: "t", limits: roomy, at: date)
        #expect(readings.requestsInWindow == 1 + 66, "the unused and the uncounted left the window; the single ticket still counts")
        #expect(readings.tokensInWindow == 66 * 10)
        #expect(readings.slotsInUse == 1, "only the single ticket's slot is held")
    }

    @Test func slotsOfRunningRequestsStayHeldUntilTheyEnd() throws {
        let store = MemoryStore()
        let broker = AllowanceBroker(store: store, interval: 60)
        var reserved: [AllowanceBroker.Reservation] = []
        for _ in 0..<40 { if let reservation = try #require(try admit(broker, roomy)).reservation { reserved.append(reservation) } }
        #expect(broker.settleAll())
        #expect(try store.limitReadings(tokenID: "t", limits: roomy, at: date).slotsInUse == 40)
        for reservation in reserved { broker.finish(reservation, tokens: 0, counted: true) }
        #expect(broker.settleAll())
        #expect(try store.limitReadings(tokenID: "t", limits: roomy, at: date).slotsInUse == 1)
    }

    @Test func nearALimitEveryRequestIsCountedAlone() throws {
        let store = CheckCountingStore()
        let broker = AllowanceBroker(store: store, interval: 60)
        let limits = TokenLimits(requestsPerMinute: 40)
        var admitted = 0
        for _ in 0..<100 where try admit(broker, limits) != nil { admitted += 1 }
        #expect(admitted == 40)
        #expect(try store.limitReadings(tokenID: "t", limits: limits, at: date).requestsInWindow == 40)
    }

    /// Two processes on one store: together they admit exactly the limit, whichever holds what.
    @Test func twoBrokersOnOneStoreAdmitExactlyTheLimit() throws {
        let store = MemoryStore()
        let brokers = [AllowanceBroker(store: store, interval: 60), AllowanceBroker(store: store, interval: 60)]
        for limit in [100, 1_000, 5_000] {
            let limits = TokenLimits(requestsPerMinute: limit, maxParallel: 1_000_000)
            let token = "t\(limit)"
            var admitted = [0, 0]
            for attempt in 0..<(limit * 3) {
                let side = attempt % 7 < 4 ? 0 : 1
                if try admit(brokers[side], limits, token: token) != nil { admitted[side] += 1 }
            }
            #expect(admitted[0] + admitted[1] == limit, "limit \(limit): \(admitted)")
            #expect(admitted[0] > 0 && admitted[1] > 0)
            for broker in brokers { #expect(broker.settleAll()) }
            #expect(try store.limitReadings(tokenID: token, limits: limits, at: date).requestsInWindow == limit)
        }
    }

    @Test func aReservationServesItsSecondOnly() throws {
        let store = CheckCountingStore()
        let broker = AllowanceBroker(store: store, interval: 60)
        let limits = TokenLimits(requestsPerMinute: 1_000_000)
        var admitted = 0
        var reservation: AllowanceBroker.Reservation?
        while reservation == nil || reservation!.unused == 0 {
            reservation = try broker.admit(tokenID: "t", limits: limits, at: Date()).reservation
            admitted += 1
        }
        let asked = store.admissionsAsked.withLock { $0.count }
        usleep(1_050_000)
        _ = try broker.admit(tokenID: "t", limits: limits, at: Date())
        admitted += 1
        #expect(store.admissionsAsked.withLock { $0.count } == asked + 1, "once its second is over, the store is asked again")
        #expect(broker.settleAll())
        #expect(try store.limitReadings(tokenID: "t", limits: limits, at: Date()).requestsInWindow == admitted, "what was not handed out went back")
    }

    @Test func threadsThatFindTheReservationUsedUpAskTheStoreOnceForTheNext() throws {
        let store = CheckCountingStore()
        let broker = AllowanceBroker(store: store, interval: 60)
        let limits = TokenLimits(requestsPerMinute: 10_000_000, maxParallel: 1_000_000)
        let admitted = Locked(0)
        let group = DispatchGroup()
        for _ in 0..<8 {
            DispatchQueue.global().async(group: group) {
                for _ in 0..<500 {
                    if let grant = try? broker.admit(tokenID: "t", limits: limits, at: Date()), grant.ticket != nil || grant.reservation != nil {
                        admitted.withLock { $0 += 1 }
                    }
                }
            }
        }
        group.wait()
        #expect(admitted.withLock { $0 } == 4_000)
        let asked = store.admissionsAsked.withLock { $0 }
        #expect(asked.filter { $0 > 1 }.count <= 40, "4,000 requests over 8 threads: \(asked.count) asks, \(asked.filter { $0 > 1 }.count) for reservations")
        #expect(broker.settleAll())
        let readings = try store.limitReadings(tokenID: "t", limits: limits, at: Date())
        #expect(readings.requestsInWindow == 4_000, "every request counted once, nothing unused kept")
        #expect(readings.slotsInUse == 4_000)
    }

    @Test func aRefusalWhileThisProcessHoldsUnusedRequestsIsDecidedAgainAfterTheyWentBack() throws {
        let store = MemoryStore()
        let broker = AllowanceBroker(store: store, interval: 60)
        let limits = TokenLimits(requestsPerMinute: 1_000)
        var reservation: AllowanceBroker.Reservation?
        while reservation == nil || reservation!.ticket.count < 8 {
            reservation = try broker.admit(tokenID: "t", limits: limits, at: date).reservation
        }
        let held = reservation!.unused
        #expect(held > 0)
        // Another process uses the rest of the room the store sees.
        let before = try store.limitReadings(tokenID: "t", limits: limits, at: date)
        for _ in 0..<(1_000 - before.requestsInWindow) { _ = try #require(try store.admit(tokenID: "t", limits: limits, at: date).ticket) }
        // Changed limits (a model list) retire the reservation: its unused requests must go back
        // before the store refuses this process.
        let changed = TokenLimits(requestsPerMinute: 1_000, models: ["m"])
        for _ in 0..<held { #expect(try admit(broker, changed) != nil) }
        #expect(try admit(broker, changed) == nil, "and refused once they are used")
        #expect(try store.limitReadings(tokenID: "t", limits: limits, at: date).requestsInWindow == 1_000)
    }

    @Test func headersAndTheDaysCapComeFromTheReservation() throws {
        let store = MemoryStore()
        let broker = AllowanceBroker(store: store, interval: 60)
        let token = TokenRecord(id: "t", name: "t", hash: "h", createdAt: Date(), limits: TokenLimits(requestsPerMinute: 100_000, tokensPerDay: 100_000_000))
        let admission = TokenAdmission(store: store, defaults: TokenLimits(), maxTokens: 1_000, broker: broker)
        var remaining: [Int] = []
        for _ in 0..<40 {
            let admitted = try admission.admit(token: token, model: "m", maxTokens: nil)
            remaining.append(Int(admitted.headers["x-ratelimit-remaining-requests"] ?? "") ?? -1)
            admitted.askingModel()
            admitted.committed(tokens: 10)
        }
        #expect(remaining == Array((100_000 - 40)..<100_000).reversed(), "each answer counts the ones before it: \(remaining)")
        #expect(broker.settleAll())
        let state = try admission.state(of: token)
        #expect(state.remainingRequests == 100_000 - 40)
        #expect(state.remainingTokens == nil)
    }

    @Test func theSettlingThreadGivesBackWithinItsInterval() throws {
        let store = MemoryStore()
        let broker = AllowanceBroker(store: store, interval: 0.05)
        let now = Date()
        let limits = TokenLimits(maxParallel: 100_000)
        var reserved: [AllowanceBroker.Reservation] = []
        for _ in 0..<10 {
            if let reservation = try broker.admit(tokenID: "t", limits: limits, at: now).reservation { reserved.append(reservation) }
        }
        for reservation in reserved { broker.finish(reservation, tokens: 0, counted: true) }
        // The serving reservation keeps the slots it has not handed out; the rest go back.
        let kept = 1 + reserved.last!.unused
        #expect(kept > 1)
        let started = MonotonicClock.now()
        while try store.limitReadings(tokenID: "t", limits: limits, at: Date()).slotsInUse > kept, MonotonicClock.now() - started < 5 { usleep(5_000) }
        #expect(try store.limitReadings(tokenID: "t", limits: limits, at: Date()).slotsInUse == kept, "the slots of ended requests went back")
        #expect(MonotonicClock.now() - started < 0.5, "within a few intervals, while the reservation still serves")
        while try store.limitReadings(tokenID: "t", limits: limits, at: Date()).slotsInUse > 1, MonotonicClock.now() - started < 5 { usleep(5_000) }
        #expect(try store.limitReadings(tokenID: "t", limits: limits, at: Date()).slotsInUse == 1, "and its unused ones once its second is over")
        #expect(MonotonicClock.now() - started < 1.5)
    }
}
