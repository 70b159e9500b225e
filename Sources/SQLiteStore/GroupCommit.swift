#if canImport(Glibc)
import Glibc
#endif

/// Commits the writes of many threads together: whoever finds no commit in progress becomes
/// the leader and commits every write queued so far, its own included, in one go; the others
/// wait for the leader's verdict on theirs. Nobody waits for a batch to fill: a write that
/// arrives while a commit runs simply joins the next one.
///
/// One SQLite transaction, with its lock, its WAL frames and its header write, then serves a
/// whole batch. Under load the batch grows by itself, and alone a write costs what it did.
/// Each waiter sleeps on a condition of its own, so a commit wakes exactly the threads it
/// settled, and the first of the next batch to lead it.
final class GroupCommit<Item>: @unchecked Sendable {
    private final class Slot {
        let item: Item
        var result: Result<Void, any Error>?
        var leads = false
        let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

        init(_ item: Item) {
            self.item = item
            pthread_cond_init(wake, nil)
        }

        deinit {
            pthread_cond_destroy(wake)
            wake.deallocate()
        }
    }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var queue: [Slot] = []
    private var leading = false

    init() {
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Commits `item` with whatever else is queued; returns once it is committed. If this
    /// thread leads, it calls `commit` with the batch, which returns one result per item, in order.
    /// - Throws: what the commit reported for `item`.
    func submit(_ item: Item, commit: ([Item]) -> [Result<Void, any Error>]) throws {
        let slot = Slot(item)
        pthread_mutex_lock(mutex)
        queue.append(slot)
        if leading {
            while slot.result == nil && !slot.leads { pthread_cond_wait(slot.wake, mutex) }
        } else {
            leading = true
            slot.leads = true
        }
        if slot.result == nil {
            // This thread leads: the queue holds its own item and everything that came since.
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            pthread_mutex_unlock(mutex)
            let results = commit(batch.map(\.item))
            precondition(results.count == batch.count, "a group commit must settle every item")
            pthread_mutex_lock(mutex)
            for (settled, result) in zip(batch, results) where settled !== slot {
                settled.result = result
                pthread_cond_signal(settled.wake)
            }
            slot.result = results[batch.firstIndex { $0 === slot }!]
            if let next = queue.first {
                next.leads = true
                pthread_cond_signal(next.wake)
            } else {
                leading = false
            }
        }
        let result = slot.result!
        pthread_mutex_unlock(mutex)
        try result.get()
    }
}
