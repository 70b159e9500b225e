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

    public init(leaseSeconds: Double, renew: @escaping Renew, release: @escaping Release) {
        self.leaseSeconds = leaseSeconds
        self.renew = renew
        self.release = release
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(wake, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
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
        } catch {
            pthread_mutex_lock(mutex)
            unreleased[lock] = Self.now() + leaseSeconds
            pthread_mutex_unlock(mutex)
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
