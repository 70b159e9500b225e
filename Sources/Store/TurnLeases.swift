#if canImport(Glibc)
import Glibc
#endif

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
/// A caller waiting for a lease writes nothing while it waits: a release in this process wakes
/// the conversation's first waiter at once, and a lease another process holds is looked at (a
/// read) at most every `pollSeconds`, and taken (a write) only once it looks free.
///
/// The renewals run on a thread of their own, started when the first lock is held.
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
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var held: Set<TurnLock> = []
    /// Locks whose release failed, with the monotonic time their lease runs out.
    private var unreleased: [TurnLock: Double] = [:]
    private var started = false
    private var stopping = false
    /// Signalled when a lease is given back in this process and someone waits for one.
    private let freed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// The waiters of each conversation, first come first, by ticket; a conversation with none has no entry.
    private var waiters: [String: [UInt64]] = [:]
    /// How many times each waited-for conversation's lease was given back here.
    private var releases: [String: UInt64] = [:]
    private var nextTicket: UInt64 = 0
    /// The longest pause between two looks at a lease another process may hold.
    static let pollSeconds = 0.1

    public init(leaseSeconds: Double, renew: @escaping Renew, release: @escaping Release) {
        self.leaseSeconds = leaseSeconds
        self.renew = renew
        self.release = release
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(wake, &attributes)
        pthread_cond_init(freed, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(freed)
        freed.deallocate()
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        mutex.deallocate()
    }

    /// Renews `lock`'s lease from now until `giveBack`.
    public func hold(_ lock: TurnLock) {
        pthread_mutex_lock(mutex)
        held.insert(lock)
        let start = !started && !stopping
        started = true
        pthread_mutex_unlock(mutex)
        if start { startThread() }
    }

    /// Gives `lock` back: now, or, if that fails, at the next renewals.
    public func giveBack(_ lock: TurnLock) {
        pthread_mutex_lock(mutex)
        held.remove(lock)
        pthread_mutex_unlock(mutex)
        do {
            try release(lock)
            pthread_mutex_lock(mutex)
            if let count = releases[lock.conversationID] {
                releases[lock.conversationID] = count &+ 1
                pthread_cond_broadcast(freed)
            }
            pthread_mutex_unlock(mutex)
        } catch {
            pthread_mutex_lock(mutex)
            unreleased[lock] = Self.now() + leaseSeconds
            pthread_mutex_unlock(mutex)
        }
    }

    /// Takes the conversation's lease and holds it, waiting up to `timeout` seconds.
    /// - Parameters:
    ///   - take: tries to take the lease (a write); the lock, or nil when someone holds it.
    ///   - isHeld: whether someone holds the lease now (a read).
    /// - Throws: `StoreError.turnLockTimedOut` when the wait runs out, or what `take` or
    ///   `isHeld` throw.
    public func acquire(
        conversationID: String, timeout: Double, take: () throws -> TurnLock?, isHeld: () throws -> Bool
    ) throws -> TurnLock {
        if let lock = try take() {
            hold(lock)
            return lock
        }
        let deadline = Self.now() + max(0, timeout)
        pthread_mutex_lock(mutex)
        let ticket = nextTicket
        nextTicket &+= 1
        waiters[conversationID, default: []].append(ticket)
        if releases[conversationID] == nil { releases[conversationID] = 0 }
        defer {
            waiters[conversationID]?.removeAll { $0 == ticket }
            if waiters[conversationID]?.isEmpty == true {
                waiters[conversationID] = nil
                releases[conversationID] = nil
            }
            pthread_mutex_unlock(mutex)
        }
        var seen = releases[conversationID] ?? 0
        var pause = 0.005
        while true {
            // Woken by a release here (the first waiter only, so that one write follows each
            // release), or else at the next look, or at the deadline.
            var until = Self.monotonicTime(at: min(Self.now() + pause, deadline))
            var handedOver = false
            while true {
                let count = releases[conversationID] ?? 0
                if count != seen, waiters[conversationID]?.first == ticket {
                    seen = count
                    handedOver = true
                    break
                }
                if pthread_cond_timedwait(freed, mutex, &until) == ETIMEDOUT { break }
            }
            pthread_mutex_unlock(mutex)
            defer { pthread_mutex_lock(mutex) }
            if try handedOver || !isHeld(), let lock = try take() {
                hold(lock)
                return lock
            }
            guard Self.now() < deadline else { throw StoreError.turnLockTimedOut(conversationID) }
            pause = min(pause * 2, Self.pollSeconds)
        }
    }

    /// Ends the renewals, for an owner that goes away; the leases then run out.
    public func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
    }

    /// How many locks are held and how many wait to be released, for tests.
    var counts: (held: Int, unreleased: Int) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return (held.count, unreleased.count)
    }

    private func startThread() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { context in
            let leases = Unmanaged<TurnLeases>.fromOpaque(context!).takeRetainedValue()
            leases.run()
            return nil
        }, context)
        guard rc == 0 else {
            // Without renewals a lease still lasts `leaseSeconds`; try again with the next lock.
            Unmanaged<TurnLeases>.fromOpaque(context).release()
            pthread_mutex_lock(mutex)
            started = false
            pthread_mutex_unlock(mutex)
            return
        }
        pthread_detach(thread)
    }

    /// Every third of the lease, counted from the start of the pass before (a pass that waits
    /// on the database does not push the next one back); a second after a renewal that failed.
    /// Releases are retried after the renewals, and no more in a pass once one fails.
    private func run() {
        var due = Self.now() + leaseSeconds / 3
        pthread_mutex_lock(mutex)
        while !stopping {
            var deadline = Self.monotonicTime(at: due)
            while !stopping && pthread_cond_timedwait(wake, mutex, &deadline) != ETIMEDOUT {}
            guard !stopping else { break }
            let renewing = Array(held)
            let retrying = Array(unreleased.keys)
            pthread_mutex_unlock(mutex)

            let started = Self.now()
            var renewed = true
            if !renewing.isEmpty {
                do { try renew(renewing, leaseSeconds) } catch { renewed = false }
            }
            var released: [TurnLock] = []
            for lock in retrying {
                guard (try? release(lock)) != nil else { break }
                released.append(lock)
            }
            due = renewed ? started + leaseSeconds / 3 : min(started + leaseSeconds / 3, Self.now() + 1)

            pthread_mutex_lock(mutex)
            for lock in released { unreleased[lock] = nil }
            let now = Self.now()
            unreleased = unreleased.filter { $0.value > now }
        }
        pthread_mutex_unlock(mutex)
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private static func monotonicTime(at seconds: Double) -> timespec {
        let whole = seconds.rounded(.down)
        return timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1e9))
    }
}
