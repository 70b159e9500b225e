@testable import FastCGI
import Foundation
import Platform
import Synchronization
import Testing

struct EpollWaitersTests {
    @Test func letsInUpToItsLimitAndTheRestWait() {
        let waiters = EpollWaiters(limit: 2) { 0 }
        #expect(waiters.enter(waitingUpTo: 0) != nil)
        #expect(waiters.enter(waitingUpTo: -1) != nil)
        let started = MonotonicClock.now()
        #expect(waiters.enter(waitingUpTo: 50) == nil, "a third idle worker waits outside, and its wait ends")
        #expect(MonotonicClock.now() - started >= 0.045)
        #expect(waiters.counts == (2, 0), "a worker whose wait ended is not left in line")
    }

    /// When the last waiter in epoll leaves with work, the most recently idle worker goes in, so
    /// that one waits for the next request while any is idle; before that, nobody is woken.
    @Test func theLastToLeaveLetsTheMostRecentIdleWorkerIn() async {
        let waiters = EpollWaiters(limit: 2) { 0 }
        #expect(waiters.enter(waitingUpTo: -1) != nil)
        #expect(waiters.enter(waitingUpTo: -1) != nil)
        let first = Entry(waiters), second = Entry(waiters)
        first.start()
        await waitUntil { waiters.counts.outside == 1 }
        second.start()
        await waitUntil { waiters.counts.outside == 2 }

        waiters.leave()
        #expect(waiters.counts == (1, 2), "one waiter is still in epoll: nobody is woken")
        waiters.leave()
        await waitUntil { second.hasEntered }
        #expect(!first.hasEntered, "the most recently idle goes first")
        #expect(waiters.counts == (1, 1))

        waiters.leave()
        await waitUntil { first.hasEntered }
        #expect(waiters.counts == (1, 0))
    }

    @Test func aStopLetsEveryoneIn() async {
        let waiters = EpollWaiters(limit: 2) { 0 }
        #expect(waiters.enter(waitingUpTo: -1) != nil)
        #expect(waiters.enter(waitingUpTo: -1) != nil)
        let sleepers = (0..<3).map { _ in Entry(waiters) }
        for sleeper in sleepers { sleeper.start() }
        await waitUntil { waiters.counts.outside == 3 }

        waiters.admitAll()
        await waitUntil { sleepers.allSatisfy(\.hasEntered) }
        #expect(waiters.counts == (5, 0))
        #expect(waiters.enter(waitingUpTo: 0) != nil, "after a stop nobody waits outside")
    }

    /// The time a worker spent outside is taken off what it may then wait in epoll. The wait
    /// allowed is long (a minute) so that a loaded machine, where this test's polling may lag by
    /// seconds, cannot end it first.
    @Test func aWaitOutsideComesOffTheTimeLeftForEpoll() async {
        let waiters = EpollWaiters(limit: 1) { 0 }
        #expect(waiters.enter(waitingUpTo: 60_000) == 60_000, "no wait outside: the whole time is left")
        let left = Atomic<Int32>(-2)
        Thread.detachNewThread {
            left.store(waiters.enter(waitingUpTo: 60_000) ?? -3, ordering: .releasing)
        }
        await waitUntil { waiters.counts.outside == 1 }
        try? await Task.sleep(for: .milliseconds(300))
        waiters.leave()
        await waitUntil { left.load(ordering: .acquiring) != -2 }
        let rest = left.load(ordering: .acquiring)
        #expect(rest > 0 && rest <= 59_700, "\(rest) ms left after at least 300 ms outside")
    }

    @Test func aWorkerWhoseWaitEndedIsNotLetInLater() {
        let waiters = EpollWaiters(limit: 1) { 0 }
        #expect(waiters.enter(waitingUpTo: -1) != nil)
        #expect(waiters.enter(waitingUpTo: 10) == nil)
        waiters.leave()
        #expect(waiters.counts == (0, 0))
        #expect(waiters.enter(waitingUpTo: 0) != nil)
    }

    /// With more workers busy than CPUs, some are blocked: every worker that leaves is replaced
    /// at once, and idle ones go straight in.
    @Test func theLimitDoesNotHoldWhileBusyWorkersOutnumberTheCPUs() async {
        let busy = Atomic<Int>(0)
        let waiters = EpollWaiters(limit: 2) { busy.load(ordering: .relaxed) }
        #expect(waiters.enter(waitingUpTo: -1) != nil)
        #expect(waiters.enter(waitingUpTo: -1) != nil)
        let sleepers = (0..<2).map { _ in Entry(waiters) }
        sleepers[0].start()
        await waitUntil { waiters.counts.outside == 1 }
        sleepers[1].start()
        await waitUntil { waiters.counts.outside == 2 }

        busy.store(2, ordering: .relaxed)
        waiters.leave()
        await waitUntil { sleepers[1].hasEntered }
        #expect(waiters.counts == (2, 1), "a third busy worker: the one that left is replaced")

        busy.store(3, ordering: .relaxed)
        #expect(waiters.enter(waitingUpTo: 0) != nil, "an idle worker goes straight in")
        #expect(waiters.counts == (3, 1))

        busy.store(0, ordering: .relaxed)
        waiters.leave()
        #expect(waiters.counts == (2, 1), "with few busy, nobody replaces a waiter while others wait")
        #expect(!sleepers[0].hasEntered)
    }

    @Test func allowsAtLeastTwoWaiters() {
        #expect(EpollWaiters.defaultLimit >= 2)
        #expect(EpollWaiters(limit: 0) { 0 }.limit == 1)
    }
}

/// An idle worker on a thread of its own, calling `enter` without a time limit.
private final class Entry: Sendable {
    let waiters: EpollWaiters
    private let entered = Atomic<Bool>(false)

    var hasEntered: Bool { entered.load(ordering: .acquiring) }

    init(_ waiters: EpollWaiters) {
        self.waiters = waiters
    }

    /// On a thread of its own: it blocks, and Dispatch's pool would add a thread for it only
    /// slowly.
    func start() {
        Thread.detachNewThread { [self] in
            if waiters.enter(waitingUpTo: -1) != nil { entered.store(true, ordering: .releasing) }
        }
    }
}

/// Polls for up to 30 s of wall-clock time: on a loaded machine (CI runs the suites in parallel
/// on two cores) a 1 ms sleep can take far longer, so a count of polls is no measure of time.
private func waitUntil(_ condition: () -> Bool) async {
    let deadline = MonotonicClock.now() + 30
    while !condition() && MonotonicClock.now() < deadline {
        try? await Task.sleep(for: .milliseconds(1))
    }
    #expect(condition(), "timed out after 30 s")
}
