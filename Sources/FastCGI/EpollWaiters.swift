#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Platform

/// Lets only a few idle workers wait in the `ReadySet`'s `epoll_wait` at once; the other idle
/// workers sleep here, each on a semaphore of its own, the most recently idle first in line.
///
/// The kernel wakes one epoll waiter for each event: were every idle worker waiting in epoll,
/// each request would wake a sleeping thread with cold caches, even while others were about to
/// ask for more work. With as many waiters as CPUs, a burst of requests wakes those few, and the
/// rest of the burst waits in epoll's ready list for the workers that finish.
///
/// A worker that leaves epoll with work may then block for long (a stream, a wait on the model
/// or on a lock). So when the last waiter leaves (with work, or because its wait ended), the
/// most recently idle worker outside takes its place at once: while any worker is idle, one
/// waits in epoll, and a request never waits for a busy worker while an idle one sleeps.
///
/// When more workers are busy than there are CPUs, some of them are blocked, not running, and
/// requests arrive faster than one waiter can be replaced: woken one by one, each sleeper
/// needs a CPU before it can take the next request, and that chain delays first events by up to
/// a scheduler slice per sleeper. So while busy workers outnumber the CPUs, the limit does
/// not hold: every worker that leaves is replaced at once, and idle workers go straight in.
final class EpollWaiters: @unchecked Sendable {
    private final class Sleeper {
        let wake = Semaphore()
        /// Set, under the mutex, by whoever let it in; the post on `wake` follows.
        var admitted = false
    }

    /// The most workers waiting in epoll at once, while no more workers are busy than that.
    let limit: Int
    /// How many workers are serving a request now.
    private let busyWorkers: @Sendable () -> Int
    private let mutex = Lock()
    private var inside = 0
    /// Idle workers outside, the most recent last.
    private var outside: [Sleeper] = []
    private var admittingAll = false

    /// One waiter per CPU askd may run on (its affinity, within its cgroup's CPU quota), and at
    /// least two: with one, every request that found it would wake another worker to take its place.
    static var defaultLimit: Int { max(2, Int(askd_usable_cpus())) }

    init(limit: Int = EpollWaiters.defaultLimit, busyWorkers: @escaping @Sendable () -> Int) {
        self.limit = max(1, limit)
        self.busyWorkers = busyWorkers
    }

    /// Waits until the caller may wait in epoll, for up to `milliseconds` (-1: no limit).
    /// - Returns: what is left of that time (-1 if there was no limit), or nil if it passed
    ///   first; the caller is then not inside.
    func enter(waitingUpTo milliseconds: Int32) -> Int32? {
        let busy = busyWorkers()
        mutex.lock()
        if admittingAll || inside < limit || busy > limit {
            inside += 1
            mutex.unlock()
            return milliseconds
        }
        let sleeper = Sleeper()
        outside.append(sleeper)
        mutex.unlock()

        if milliseconds < 0 {
            sleeper.wake.wait()
            return milliseconds
        }
        let deadline = Deadline(after: Double(milliseconds) / 1_000)
        if !sleeper.wake.wait(until: deadline) {
            // The time ran out (or the wait failed): leave the line, unless let in meanwhile.
            mutex.lock()
            let admitted = sleeper.admitted
            if !admitted { outside.removeAll { $0 === sleeper } }
            mutex.unlock()
            guard admitted else { return nil }
            // Let in just as the time ran out: its post is on the way.
            sleeper.wake.wait()
        }
        return Int32(clamping: Int(deadline.remainingSeconds * 1_000))
    }

    /// The caller no longer waits in epoll. If nobody else does, or if the caller makes the busy
    /// workers outnumber the CPUs, the most recently idle worker outside goes in.
    func leave() {
        let busy = busyWorkers()
        mutex.lock()
        inside -= 1
        var next: Sleeper?
        if inside == 0 || busy >= limit, let last = outside.popLast() {
            last.admitted = true
            inside += 1
            next = last
        }
        mutex.unlock()
        if let next { next.wake.post() }
    }

    /// Lets every idle worker in, now and from now on: at a stop, each must see the stop pipe.
    func admitAll() {
        mutex.lock()
        admittingAll = true
        let everyone = outside
        outside.removeAll()
        for sleeper in everyone { sleeper.admitted = true }
        inside += everyone.count
        mutex.unlock()
        for sleeper in everyone { sleeper.wake.post() }
    }

    /// How many wait in epoll and how many outside, for tests.
    var counts: (inside: Int, outside: Int) {
        mutex.lock()
        defer { mutex.unlock() }
        return (inside, outside.count)
    }
}
