import Store
import Synchronization

/// Counts the requests of this process that are taking a turn lock, and lets at most `limit`
/// of them at once: a waiter holds its worker thread, so an unbounded number of them (255
/// clients on one busy conversation) would leave none for anyone else.
final class TurnWaiters: Sendable {
    let limit: Int
    private let count = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Takes the conversation's turn lock through `store`, waiting up to `timeout` seconds, as
    /// one of at most `limit` callers at once.
    /// - Throws: `StoreError.turnLockTimedOut` at once when `limit` callers are already waiting.
    func acquire(_ conversationID: String, on store: any ConversationStore, timeout: Double) throws -> TurnLock {
        guard count.add(1, ordering: .acquiringAndReleasing).newValue <= limit else {
            count.subtract(1, ordering: .relaxed)
            throw StoreError.turnLockTimedOut(conversationID)
        }
        defer { count.subtract(1, ordering: .relaxed) }
        return try store.acquireTurnLock(conversationID: conversationID, timeout: timeout)
    }
}
