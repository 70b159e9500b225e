#if canImport(Glibc)
import Glibc
#endif
import Platform

/// Keeps the turn locks a store handed out alive while their turns run, and gives back the
/// ones whose release failed.
///
/// A turn lock is a lease row in the database, so that processes and hosts share it and a
/// holder that dies blocks the conversation only until the lease runs out. So the lease is
/// short, and renewed every third of it while the turn runs, however long the turn takes (a
/// stream may take minutes): a fixed lease had to outlast the longest turn, and then a holder
/// that died, or a release that failed while the database was unreachable for a second, left
/// the conversation locked for minutes. A release that fails is tried again at each renewal,
/// until it succeeds or the lease has run out anyway.
///
/// A caller waiting for a lease holds no thread and writes nothing while it waits: it is queued,
/// a release in this process hands the lease to the conversation's first waiter at once, and a
/// lease another process holds is looked at (a read) at most every `pollSeconds`, and taken (a
/// write) only once it looks free.
///
/// The renewals run on a thread of their own, started when the first lock is held; the waiters
/// are looked after by another, started with the first waiter.
public final class TurnLeases: @unchecked Sendable {
    /// Extends each of the locks' leases to `seconds` from now; a lock that is no longer held
    /// by its holder is left alone.
    public typealias Renew = @Sendable (_ locks: [TurnLock], _ seconds: Double) throws -> Void
    /// Deletes the lock's lease, if its holder still has it.
    public typealias Release = @Sendable (TurnLock) throws -> Void

    /// How long a lease lasts unless renewed.
    public let leaseSeconds: Double
    private let renew: Renew
    private let release: Release
    private let mutex = Lock()
    /// Signalled to end the renewals.
    private let wake = Condition()
    private var held: Set<TurnLock> = []
    /// Locks whose release failed, with the monotonic time their lease runs out.
    private var unreleased: [TurnLock: Double] = [:]
    private var started = false
    private var stopping = false
    /// The waiters of each conversation, first come first; a conversation with none has no entry.
    private var queues: [String: [Waiter]] = [:]
    /// Conversations whose lease was given back here while someone waited for it.
    private var handedOver: Set<String> = []
    private var waitingStarted = false
    /// Signalled when a waiter is queued or a waited-for lease is given back.
    private let waitersChanged = Condition()
    /// The longest pause between two looks at a lease another process may hold.
    static let pollSeconds = 0.1

    public init(leaseSeconds: Double, renew: @escaping Renew, release: @escaping Release) {
        self.leaseSeconds = leaseSeconds
        self.renew = renew
        self.release = release
    }

    /// Renews `lock`'s lease from now until `giveBack`.
    public func hold(_ lock: TurnLock) {
        mutex.lock()
        held.insert(lock)
        let start = !started && !stopping
        started = true
        mutex.unlock()
        if start { startThread() }
    }

    /// Gives `lock` back: now, or, if that fails, at the next renewals.
    public func giveBack(_ lock: TurnLock) {
        mutex.lock()
        held.remove(lock)
        mutex.unlock()
        do {
            try release(lock)
            mutex.lock()
            if queues[lock.conversationID] != nil {
                handedOver.insert(lock.conversationID)
                waitersChanged.signal()
            }
            mutex.unlock()
        } catch {
            mutex.lock()
            unreleased[lock] = MonotonicClock.now() + leaseSeconds
            mutex.unlock()
        }
    }

    /// Tries to take the lease (a write); the lock, or nil when someone holds it.
    public typealias Take = @Sendable () throws -> TurnLock?
    /// Whether someone holds the lease now (a read).
    public typealias IsHeld = @Sendable () throws -> Bool

    /// Takes the conversation's lease, holds it, and passes the lock to `completion`: on the
    /// calling thread when the lease is free, else from the waiters' thread once it frees, or
    /// `StoreError.turnLockTimedOut` after `timeout` seconds. Waiters of one conversation get the
    /// lease in the order they came. `completion` must not block: others wait behind it.
    public func acquire(
        conversationID: String, timeout: Double, take: @escaping Take, isHeld: @escaping IsHeld,
        then completion: @escaping @Sendable (Result<TurnLock, any Error>) -> Void
    ) {
        do {
            if let lock = try take() {
                hold(lock)
                completion(.success(lock))
                return
            }
        } catch {
            completion(.failure(error))
            return
        }
        let now = MonotonicClock.now()
        let waiter = Waiter(
            deadline: now + max(0, timeout), nextLook: now + 0.005, pause: 0.005, take: take, isHeld: isHeld, completion: completion
        )
        mutex.lock()
        queues[conversationID, default: []].append(waiter)
        let start = !waitingStarted
        waitingStarted = true
        waitersChanged.signal()
        mutex.unlock()
        if start { try? DetachedThread.start(name: "askd-turn-waits") { [self] in runWaiters() } }
    }

    /// Looks at once at the conversation's lease for its first waiter, if it has one: another
    /// process says it released it.
    public func lookNow(_ conversationID: String) {
        mutex.lock()
        if queues[conversationID] != nil {
            handedOver.insert(conversationID)
            waitersChanged.signal()
        }
        mutex.unlock()
    }

    /// A caller waiting for a conversation's lease.
    private struct Waiter {
        let deadline: Double
        /// When the lease is next looked at, unless a release here comes first.
        var nextLook: Double
        var pause: Double
        let take: Take
        let isHeld: IsHeld
        let completion: @Sendable (Result<TurnLock, any Error>) -> Void
    }

    /// The waiters' thread: hands each freed lease to its conversation's first waiter, looks at
    /// leases held elsewhere with a pause that doubles up to `pollSeconds`, and tells waiters
    /// whose time ran out.
    private func runWaiters() {
        mutex.lock()
        while !stopping {
            let now = MonotonicClock.now()
            var due: [(conversationID: String, waiter: Waiter, handedOver: Bool)] = []
            var expired: [(String, Waiter)] = []
            var wake = now + 1
            for (conversationID, queue) in queues {
                var kept: [Waiter] = []
                for waiter in queue {
                    if waiter.deadline <= now { expired.append((conversationID, waiter)) } else { kept.append(waiter) }
                }
                queues[conversationID] = kept.isEmpty ? nil : kept
                guard let first = kept.first else {
                    handedOver.remove(conversationID)
                    continue
                }
                let freedHere = handedOver.remove(conversationID) != nil
                if freedHere || first.nextLook <= now {
                    due.append((conversationID, first, freedHere))
                }
                wake = min(wake, first.nextLook, kept.map(\.deadline).min() ?? wake)
            }
            if due.isEmpty && expired.isEmpty {
                waitersChanged.wait(mutex, until: Deadline(monotonicSeconds: wake))
                continue
            }
            mutex.unlock()
            for (conversationID, waiter) in expired {
                waiter.completion(.failure(StoreError.turnLockTimedOut(conversationID)))
            }
            var outcomes: [(String, Result<TurnLock, any Error>?)] = []
            for entry in due {
                do {
                    if try entry.handedOver || !entry.waiter.isHeld(), let lock = try entry.waiter.take() {
                        hold(lock)
                        outcomes.append((entry.conversationID, .success(lock)))
                    } else {
                        outcomes.append((entry.conversationID, nil))
                    }
                } catch {
                    outcomes.append((entry.conversationID, .failure(error)))
                }
            }
            mutex.lock()
            var finished: [(Waiter, Result<TurnLock, any Error>)] = []
            let later = MonotonicClock.now()
            for (conversationID, outcome) in outcomes {
                guard var queue = queues[conversationID], !queue.isEmpty else { continue }
                if let outcome {
                    finished.append((queue.removeFirst(), outcome))
                } else {
                    queue[0].pause = min(queue[0].pause * 2, Self.pollSeconds)
                    queue[0].nextLook = later + queue[0].pause
                }
                queues[conversationID] = queue.isEmpty ? nil : queue
            }
            if !finished.isEmpty {
                mutex.unlock()
                for (waiter, outcome) in finished { waiter.completion(outcome) }
                mutex.lock()
            }
        }
        // Stopped: whoever still waits is told the store is closed.
        let left = queues.values.flatMap { $0 }
        queues = [:]
        waitingStarted = false
        mutex.unlock()
        for waiter in left { waiter.completion(.failure(StoreError.unavailable("the store is closed"))) }
    }

    /// How many callers wait for a lease now, for tests.
    var waiting: Int {
        mutex.lock()
        defer { mutex.unlock() }
        return queues.values.reduce(0) { $0 + $1.count }
    }

    /// Ends the renewals and the waiters' thread, for an owner that goes away; the leases then
    /// run out, and waiters get `StoreError.unavailable`.
    public func stop() {
        mutex.lock()
        stopping = true
        wake.signal()
        waitersChanged.signal()
        mutex.unlock()
    }

    /// How many locks are held and how many wait to be released, for tests.
    var counts: (held: Int, unreleased: Int) {
        mutex.lock()
        defer { mutex.unlock() }
        return (held.count, unreleased.count)
    }

    private func startThread() {
        do {
            try DetachedThread.start(name: "askd-leases") { [self] in run() }
        } catch {
            // Without renewals a lease still lasts `leaseSeconds`; try again with the next lock.
            mutex.withLock { started = false }
        }
    }

    /// Every third of the lease, counted from the start of the pass before (a pass that waits
    /// on the database does not push the next one back); a second after a renewal that failed.
    /// Releases are retried after the renewals, and no more in a pass once one fails.
    private func run() {
        var due = MonotonicClock.now() + leaseSeconds / 3
        mutex.lock()
        while !stopping {
            while !stopping && wake.wait(mutex, until: Deadline(monotonicSeconds: due)) {}
            guard !stopping else { break }
            let renewing = Array(held)
            let retrying = Array(unreleased.keys)
            mutex.unlock()

            let started = MonotonicClock.now()
            var renewed = true
            if !renewing.isEmpty {
                do { try renew(renewing, leaseSeconds) } catch { renewed = false }
            }
            var released: [TurnLock] = []
            for lock in retrying {
                guard (try? release(lock)) != nil else { break }
                released.append(lock)
            }
            due = renewed ? started + leaseSeconds / 3 : min(started + leaseSeconds / 3, MonotonicClock.now() + 1)

            mutex.lock()
            for lock in released { unreleased[lock] = nil }
            let now = MonotonicClock.now()
            unreleased = unreleased.filter { $0.value > now }
        }
        mutex.unlock()
    }
}
