import Platform
import Store
import Synchronization

/// The requests of this process that are waiting for a turn lock: at most `limit` at once (one
/// more gets 409 at once), so that a crowd on one conversation stays bounded in memory. A waiter
/// holds no thread: the store queues it and calls back when the lock frees.
final class TurnWaiters: Sendable {
    let limit: Int
    private let count = Atomic<Int>(0)
    private let work: WorkQueue

    init(limit: Int, work: WorkQueue = .shared) {
        self.limit = max(1, limit)
        self.work = work
    }

    /// Takes the conversation's turn lock through `store`, waiting up to `timeout` seconds, as
    /// one of at most `limit` callers at once, and passes it to `next`: on the calling thread
    /// when the lock was free, else on the `WorkQueue` (never on the thread that freed the lock,
    /// which others may be waiting on).
    func acquire(
        _ conversationID: String, on store: any ConversationStore, timeout: Double,
        then next: @escaping @Sendable (Result<TurnLock, any Error>) -> Void
    ) {
        guard count.add(1, ordering: .acquiringAndReleasing).newValue <= limit else {
            count.subtract(1, ordering: .relaxed)
            next(.failure(StoreError.turnLockTimedOut(conversationID)))
            return
        }
        let call = InlineCall()
        store.acquireTurnLock(conversationID: conversationID, timeout: timeout) { [self] result in
            count.subtract(1, ordering: .relaxed)
            if call.answeredInline() {
                next(result)
            } else {
                work.post { next(result) }
            }
        }
        call.returned()
    }
}

/// Tells a callback whether it runs inside the call that was given it, before that returned.
final class InlineCall: Sendable {
    private static let calling = 0
    private static let returnedFirst = 1
    private static let answeredFirst = 2
    private let state = Atomic<Int>(InlineCall.calling)

    /// The callback's question: true when the call has not returned yet.
    func answeredInline() -> Bool {
        state.compareExchange(expected: Self.calling, desired: Self.answeredFirst, ordering: .acquiringAndReleasing).exchanged
    }

    /// The caller's mark, once the call returned.
    func returned() {
        _ = state.compareExchange(expected: Self.calling, desired: Self.returnedFirst, ordering: .acquiringAndReleasing)
    }
}
