import Platform

/// Keeps the parallel slots a store handed out alive while their requests run.
///
/// A slot is a lease row, like a turn lock (`TurnLeases`), so that every process and host
/// sharing the store counts it, and a process that dies holding slots frees them when their
/// leases run out: the lease is short and renewed every third of it, on a thread of its own
/// started with the first slot, however long the request takes. A slot whose release failed
/// (the database was unreachable for a moment) is tried again at each renewal until its lease
/// has run out anyway.
public final class SlotLeases: @unchecked Sendable {
    /// Extends the leases of the slots `holders` to `seconds` from now.
    public typealias Renew = @Sendable (_ holders: [String], _ seconds: Double) throws -> Void
    /// Deletes the slot's lease.
    public typealias Release = @Sendable (String) throws -> Void

    public let leaseSeconds: Double
    private let renew: Renew
    private let release: Release
    private let lock = Lock()
    private let wake = Condition()
    private var held: Set<String> = []
    /// Slots whose release failed, with the monotonic time their lease runs out.
    private var unreleased: [String: Double] = [:]
    private var started = false
    private var stopping = false

    public init(leaseSeconds: Double, renew: @escaping Renew, release: @escaping Release) {
        self.leaseSeconds = leaseSeconds
        self.renew = renew
        self.release = release
    }

    /// Renews the slot's lease from now until `forget` or `giveBack`.
    public func hold(_ holder: String) {
        let start = lock.withLock {
            held.insert(holder)
            defer { started = true }
            return !started && !stopping
        }
        if start { try? DetachedThread.start(name: "askd-slot-leases") { [self] in run() } }
    }

    /// Stops renewing a slot whose row is gone (deleted in the caller's own transaction).
    public func forget(_ holder: String) {
        _ = lock.withLock { held.remove(holder) }
    }

    /// Deletes the slot's lease now, or, if that fails, at the next renewals.
    public func giveBack(_ holder: String) {
        forget(holder)
        do {
            try release(holder)
        } catch {
            lock.withLock { unreleased[holder] = MonotonicClock.now() + leaseSeconds }
        }
    }

    /// Stops renewing a slot whose release the caller could not make, and tries it again at
    /// the next renewals.
    public func releaseLater(_ holder: String) {
        lock.withLock {
            held.remove(holder)
            unreleased[holder] = MonotonicClock.now() + leaseSeconds
        }
    }

    /// Ends the renewals, for an owner that goes away; the leases then run out.
    public func stop() {
        lock.withLock {
            stopping = true
            wake.signal()
        }
    }

    /// How many slots are held and how many wait to be released, for tests.
    public var counts: (held: Int, unreleased: Int) {
        lock.withLock { (held.count, unreleased.count) }
    }

    private func run() {
        var due = MonotonicClock.now() + leaseSeconds / 3
        lock.lock()
        while !stopping {
            while !stopping && wake.wait(lock, until: Deadline(monotonicSeconds: due)) {}
            guard !stopping else { break }
            let renewing = Array(held)
            let retrying = Array(unreleased.keys)
            lock.unlock()
            let passStarted = MonotonicClock.now()
            var renewed = true
            if !renewing.isEmpty {
                do { try renew(renewing, leaseSeconds) } catch { renewed = false }
            }
            var released: [String] = []
            for holder in retrying {
                guard (try? release(holder)) != nil else { break }
                released.append(holder)
            }
            due = renewed ? passStarted + leaseSeconds / 3 : min(passStarted + leaseSeconds / 3, MonotonicClock.now() + 1)
            lock.lock()
            for holder in released { unreleased[holder] = nil }
            let now = MonotonicClock.now()
            unreleased = unreleased.filter { $0.value > now }
        }
        lock.unlock()
    }
}
