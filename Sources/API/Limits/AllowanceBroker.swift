import FoundationEssentials
import Logging
import Platform
import Store

/// Admits a busy token's requests from reservations: the store admits several requests at once
/// (`ConversationStore.admit(wanted:)`), counted in the window and holding their slots as for
/// single requests, and this process hands them out one by one without a store access.
///
/// A token asks for one request at a time until it asks again within a second; then each ask
/// doubles, up to `largestReservation`, and one thread at a time asks for a reservation. The
/// store grants several only when every limit has `RateWindow.reservationShare` times as much
/// room, so near a limit each request is counted alone. A reservation serves until its window
/// second ends (a second for tokens without per-minute limits). Every `interval`, a thread of
/// its own writes the model tokens used, frees the slots of ended requests, and, once the
/// second is over, gives back what was not handed out and the requests that never reached the
/// model. A request the store refuses while this process holds some of the token unused is
/// asked again once that went back.
///
/// So the processes sharing a store never admit past a limit, and fall short of it only while
/// another holds unused requests: at most a `reservationShare`-th of the room there was, for
/// at most a second and `interval`. A process that dies leaves its reservation counted in the
/// window and its slots until their lease runs out, as a single request's would.
public final class AllowanceBroker: @unchecked Sendable {
    /// The most requests asked of the store at once.
    public static let largestReservation = 256

    /// Requests admitted at once by the store, and what became of them.
    final class Reservation: @unchecked Sendable {
        let ticket: AdmissionTicket
        let limits: TokenLimits
        /// The token's counters before the reservation.
        let readings: LimitReadings
        /// When it stops serving new requests, on the monotonic clock: when its second ends.
        let servesUntil: Double
        /// Whether it still serves new requests.
        var current = true
        /// Requests not handed out yet.
        var unused: Int
        /// Requests handed out and not finished.
        var running = 0
        /// Requests to take back out of the window: finished without reaching the model.
        var uncounted = 0
        /// The slots its lease holds in the store.
        var slotsInStore: Int
        /// Model tokens used by its finished requests and not yet written in the window.
        var tokens = 0
        /// Model tokens used by its finished requests, written or not.
        var spent = 0

        init(ticket: AdmissionTicket, limits: TokenLimits, readings: LimitReadings, servesUntil: Double) {
            self.ticket = ticket
            self.limits = limits
            self.readings = readings
            self.servesUntil = servesUntil
            unused = ticket.count - 1
            running = 1
            slotsInStore = ticket.slot == nil ? 0 : ticket.count
        }

        /// What a settlement now would change: requests back, slots kept, tokens counted.
        var settlement: (returning: Int, slotsKept: Int, tokens: Int)? {
            let returning = uncounted + (current ? 0 : unused)
            let slotsKept = ticket.slot == nil ? 0 : running + (current ? unused : 0)
            guard returning > 0 || tokens > 0 || slotsKept != slotsInStore else { return nil }
            return (returning, slotsKept, tokens)
        }

        /// Whether nothing of it is left in the store or to be written.
        var isSettled: Bool { !current && running == 0 && uncounted == 0 && unused == 0 && tokens == 0 && slotsInStore == 0 }

        /// The counters as a client sees them before the next request it hands out.
        var readingsNow: LimitReadings {
            var readings = readings
            let handedOut = ticket.count - unused
            if let second = ticket.second {
                if let index = readings.buckets.lastIndex(where: { $0.second == second }) {
                    readings.buckets[index].requests += handedOut
                } else {
                    readings.buckets.append(WindowBucket(second: second, requests: handedOut, tokens: 0))
                }
                readings.buckets[readings.buckets.count - 1].tokens += spent
            }
            if ticket.slot != nil { readings.slotsInUse += running }
            readings.tokensToday += spent
            return readings
        }
    }

    /// How large a token's next ask is.
    private struct Sizing {
        var next = 1
        var askedAt = -Double.infinity
        /// A thread is asking the store for a reservation of `next`.
        var asking = false
    }

    private let store: any ConversationStore
    private let interval: Double
    private let logger: Logger
    /// Guards everything below; `changed` is signalled under it.
    private let lock = Lock()
    private let changed = Condition()
    private var serving: [String: Reservation] = [:]
    private var sizing: [String: Sizing] = [:]
    private var unsettled: [ObjectIdentifier: Reservation] = [:]
    private var settlerStarted = false
    /// Held across a settlement round, so that one that returns has written what came before it.
    private let settling = Lock()

    /// - Parameter interval: the longest a reservation's returns and tokens wait, in seconds.
    public init(store: any ConversationStore, interval: Double = 0.1, logger: Logger = Logger(label: "askd")) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    /// One request admitted: from a reservation (nil ticket), or with the store's own ticket.
    struct Grant {
        let readings: LimitReadings
        let ticket: AdmissionTicket?
        let reservation: Reservation?
    }

    /// Admits one request of `tokenID` under `limits` at `date`, or refuses it (nil ticket and
    /// reservation, with the readings that refused it).
    func admit(tokenID: String, limits: TokenLimits, at date: Date) throws -> Grant {
        let now = MonotonicClock.now()
        let (local, wanted) = lock.withLock { () -> (Grant?, Int) in
            if let grant = handOut(tokenID, limits, now: now) { return (grant, 0) }
            // One thread at a time asks the store for a reservation; the others meanwhile ask
            // for their own request alone.
            var size = sizing[tokenID, default: Sizing()]
            guard !size.asking else { return (nil, 1) }
            let previous = serving[tokenID]
            retire(tokenID)
            if now - size.askedAt >= 1 {
                size.next = 1
            } else if let previous, previous.unused > 0 {
                // Its time ran out first: ask for about what it handed out.
                size.next = max(1, min(size.next, 2 * (previous.ticket.count - previous.unused)))
            } else {
                size.next = min(size.next * 2, Self.largestReservation)
            }
            size.askedAt = now
            size.asking = size.next > 1
            sizing[tokenID] = size
            return (nil, size.next)
        }
        if let local { return local }
        let admission: Admission
        do {
            admission = try store.admit(tokenID: tokenID, limits: limits, at: date, wanted: wanted)
        } catch {
            if wanted > 1 { lock.withLock { sizing[tokenID]?.asking = false } }
            throw error
        }
        guard let ticket = admission.ticket else {
            if wanted > 1 { lock.withLock { sizing[tokenID]?.asking = false } }
            return try afterRefusal(tokenID: tokenID, limits: limits, at: date, admission.readings)
        }
        guard ticket.count > 1 else {
            if wanted > 1 { lock.withLock { sizing[tokenID]?.asking = false } }
            return Grant(readings: admission.readings, ticket: ticket, reservation: nil)
        }
        // It serves until its second ends by the store's clock, measured on this process's own.
        let left = ticket.second.map { Double($0 + 1) - admission.readings.at.timeIntervalSince1970 } ?? 1
        let reservation = Reservation(ticket: ticket, limits: limits, readings: admission.readings, servesUntil: now + min(max(left, 0), 1))
        let startSettler = lock.withLock {
            sizing[tokenID]?.asking = false
            retire(tokenID)
            serving[tokenID] = reservation
            unsettled[ObjectIdentifier(reservation)] = reservation
            changed.signal()
            defer { settlerStarted = true }
            return !settlerStarted
        }
        if startSettler { startSettlerThread() }
        return Grant(readings: admission.readings, ticket: nil, reservation: reservation)
    }

    /// Under `lock`: one request from the token's serving reservation, if it has one to give now.
    private func handOut(_ tokenID: String, _ limits: TokenLimits, now: Double) -> Grant? {
        guard let reservation = serving[tokenID], reservation.limits == limits, serves(reservation, now: now) else { return nil }
        let readings = reservation.readingsNow
        guard RateWindow.refusal(limits, readings) == nil else { return nil }
        reservation.unused -= 1
        reservation.running += 1
        return Grant(readings: readings, ticket: nil, reservation: reservation)
    }

    /// The store refused: a reservation another thread took meanwhile may serve; else what this
    /// process holds of the token unused goes back, and the store decides again.
    private func afterRefusal(tokenID: String, limits: TokenLimits, at date: Date, _ readings: LimitReadings) throws -> Grant {
        let refused = Grant(readings: readings, ticket: nil, reservation: nil)
        let (local, held) = lock.withLock { () -> (Grant?, [Reservation]) in
            if let grant = handOut(tokenID, limits, now: MonotonicClock.now()) { return (grant, []) }
            retire(tokenID)
            return (nil, unsettled.values.filter { $0.ticket.tokenID == tokenID && $0.settlement != nil })
        }
        if let local { return local }
        guard !held.isEmpty, settle(held) else { return refused }
        let admission = try store.admit(tokenID: tokenID, limits: limits, at: date, wanted: 1)
        return Grant(readings: admission.readings, ticket: admission.ticket, reservation: nil)
    }

    /// Ends a request handed out from `reservation`: `tokens` the model used, and whether it
    /// reached the model (if not, it leaves the window).
    func finish(_ reservation: Reservation, tokens: Int, counted: Bool) {
        lock.withLock {
            reservation.running -= 1
            if counted {
                reservation.spent += tokens
                // Only the window counts tokens in the store's limit counters; the day's are the usage rows.
                if reservation.ticket.second != nil { reservation.tokens += tokens }
            } else {
                reservation.uncounted += 1
            }
        }
    }

    /// `readings` of the store, without what this process holds of `tokenID` unused and with
    /// the tokens it has not written yet: the counters as they are.
    func adjusted(_ readings: LimitReadings, tokenID: String) -> LimitReadings {
        lock.withLock {
            var readings = readings
            for reservation in unsettled.values where reservation.ticket.tokenID == tokenID {
                let unused = reservation.uncounted + reservation.unused
                if let second = reservation.ticket.second, let index = readings.buckets.firstIndex(where: { $0.second == second }) {
                    readings.buckets[index].requests = max(0, readings.buckets[index].requests - unused)
                }
                if let last = readings.buckets.indices.last { readings.buckets[last].tokens += reservation.tokens }
                if reservation.ticket.slot != nil { readings.slotsInUse = max(0, readings.slotsInUse - (reservation.slotsInStore - reservation.running)) }
            }
            return readings
        }
    }

    /// Stops every reservation serving and settles what can be: at shutdown, once requests have ended.
    /// - Returns: false when some could not be written.
    @discardableResult
    public func settleAll() -> Bool {
        let all = lock.withLock {
            for tokenID in Array(serving.keys) { retire(tokenID) }
            return Array(unsettled.values)
        }
        return settle(all)
    }

    /// Whether `reservation` may hand out a request at `now` (monotonic): it has one left, in its time.
    private func serves(_ reservation: Reservation, now: Double) -> Bool {
        reservation.current && reservation.unused > 0 && now < reservation.servesUntil
    }

    /// Under `lock`: the token's serving reservation serves no more.
    private func retire(_ tokenID: String) {
        serving.removeValue(forKey: tokenID)?.current = false
    }

    /// Writes what `reservations` owe the store, in one transaction; when it fails, they keep it
    /// for the next round.
    @discardableResult
    private func settle(_ reservations: [Reservation]) -> Bool {
        settling.withLock {
            let owing = lock.withLock { reservations.compactMap { reservation in reservation.settlement.map { (reservation, $0) } } }
            var written = true
            if !owing.isEmpty {
                do {
                    try store.settle(
                        owing.map { Settlement($0.0.ticket, returning: $0.1.returning, slotsKept: $0.1.slotsKept, tokens: $0.1.tokens) }, at: Date()
                    )
                } catch {
                    written = false
                    logger.error("reservations of requests could not be settled yet; they are tried again", metadata: ["error": "\(error)"])
                }
            }
            lock.withLock {
                if written {
                    for (reservation, owed) in owing {
                        let fromUncounted = min(owed.returning, reservation.uncounted)
                        reservation.uncounted -= fromUncounted
                        reservation.unused -= owed.returning - fromUncounted
                        reservation.tokens -= owed.tokens
                        reservation.slotsInStore = owed.slotsKept
                    }
                }
                for reservation in reservations where reservation.isSettled { unsettled.removeValue(forKey: ObjectIdentifier(reservation)) }
            }
            return written
        }
    }

    /// One round: retires the reservations past their second and settles what is owed.
    private func settleRound() -> Bool {
        let now = MonotonicClock.now()
        let owing = lock.withLock {
            for (tokenID, reservation) in serving where !serves(reservation, now: now) { retire(tokenID) }
            sizing = sizing.filter { $0.value.asking || now - $0.value.askedAt < 2 }
            return unsettled.values.filter { $0.settlement != nil || $0.isSettled }
        }
        return settle(owing)
    }

    private func startSettlerThread() {
        do {
            try DetachedThread.startRounds(
                name: "askd-allowance", interval: interval,
                waitForWork: { [self] in lock.withLock { while unsettled.isEmpty { changed.wait(lock) } } },
                round: { [self] in settleRound() }
            )
        } catch {
            logger.error("the allowance thread cannot start; reservations are settled at shutdown", metadata: ["error": "\(error)"])
        }
    }
}
