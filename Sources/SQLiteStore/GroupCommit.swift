import Platform

/// Commits the writes of many threads together: whoever finds no commit in progress becomes
/// the leader and commits every write queued so far, its own included, in one go; the others
/// wait for the leader's verdict on theirs. Nobody waits for a batch to fill: a write that
/// arrives while a commit runs simply joins the next one.
///
/// One SQLite transaction, with its lock, its WAL frames and its header write, then serves a
/// whole batch. Under load the batch grows by itself, and alone a write costs what it did.
/// Each waiter sleeps on a semaphore of its own, posted after the queue's mutex is released: a
/// commit wakes exactly the threads it settled, and the first of the next batch to lead it,
/// and none of them then blocks again on the mutex: one context switch per waiter.
final class GroupCommit<Item>: @unchecked Sendable {
    private final class Slot {
        let items: [Item]
        /// Written by the leader before it posts `wake`; read by the owner after its wait.
        var results: [Result<Void, any Error>]?
        let wake = Semaphore()

        init(_ items: [Item]) {
            self.items = items
        }
    }

    private let mutex = Lock()
    private var queue: [Slot] = []
    private var leading = false

    /// Commits `item` with whatever else is queued; returns once it is committed. If this
    /// thread leads, it calls `commit` with the batch, which returns one result per item, in order.
    /// - Throws: what the commit reported for `item`.
    func submit(_ item: Item, commit: ([Item]) -> [Result<Void, any Error>]) throws {
        try submit([item], commit: commit)[0].get()
    }

    /// Commits `items` with whatever else is queued; returns once they are committed, with one
    /// result per item, in order.
    func submit(_ items: [Item], commit: ([Item]) -> [Result<Void, any Error>]) -> [Result<Void, any Error>] {
        let slot = Slot(items)
        mutex.lock()
        queue.append(slot)
        let follows = leading
        leading = true
        mutex.unlock()
        if follows {
            // Woken with a verdict, or without one to lead the next batch.
            slot.wake.wait()
            if let results = slot.results { return results }
        }

        // This thread leads: the queue holds its own items and everything that came since.
        mutex.lock()
        let batch = queue
        queue.removeAll(keepingCapacity: true)
        mutex.unlock()
        let results = commit(batch.flatMap(\.items))
        precondition(results.count == batch.reduce(0) { $0 + $1.items.count }, "a group commit must settle every item")
        mutex.lock()
        let next = queue.first
        if next == nil { leading = false }
        mutex.unlock()
        // The next leader first, so that the next batch's commit starts while these finish.
        if let next { next.wake.post() }
        var own: [Result<Void, any Error>] = []
        var offset = 0
        for settled in batch {
            let share = Array(results[offset..<offset + settled.items.count])
            offset += settled.items.count
            if settled === slot {
                own = share
            } else {
                settled.results = share
                settled.wake.post()
            }
        }
        return own
    }
}
