import FoundationEssentials
import Store

extension PostgresStore {
    /// The lock is a lease row: taken when no row exists or the one there has expired, in one
    /// statement; `TurnLeases` queues the waiters and tries again until `timeout`.
    public func acquireTurnLock(
        conversationID: String, timeout: Double, then completion: @escaping @Sendable (Result<TurnLock, any Error>) -> Void
    ) {
        let holder = UUID().uuidString
        leases.acquire(conversationID: conversationID, timeout: timeout, take: { [self] in
            let acquired = try withConnection { db in
                try db.execute(
                    """
                    INSERT INTO turn_locks (conversation_id, holder, expires_at)
                    VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $3)
                    ON CONFLICT (conversation_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                    WHERE turn_locks.expires_at < (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                    """,
                    [.text(conversationID), .text(holder), .integer(leaseMilliseconds)]
                ) == 1
            }
            return acquired ? TurnLock(conversationID: conversationID, holder: holder) : nil
        }, isHeld: { [self] in
            try withConnection { db in
                try !db.query(
                    """
                    SELECT 1 FROM turn_locks
                    WHERE conversation_id = $1 AND expires_at >= (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                    """,
                    [.text(conversationID)]
                ) { _ in true }.isEmpty
            }
        }, then: completion)
    }

    /// Gives the lock back now, or, if the database cannot be reached, at the next renewals.
    public func releaseTurnLock(_ lock: TurnLock) {
        leases.giveBack(lock)
    }

    static func renew(_ locks: [TurnLock], for seconds: Double, on db: PostgresConnection) throws {
        for lock in locks {
            _ = try db.execute(
                """
                UPDATE turn_locks SET expires_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $3
                WHERE conversation_id = $1 AND holder = $2
                """,
                [.text(lock.conversationID), .text(lock.holder), .integer(Int64(seconds * 1000))]
            )
        }
    }

    /// Deletes the lease and, in the same statement, tells every process that waits for it
    /// (`NOTIFY askd_turn_locks` with the conversation's id), so that a waiter elsewhere takes it
    /// at once rather than at its next look.
    static func release(_ lock: TurnLock, on db: PostgresConnection) throws {
        _ = try db.execute(
            """
            WITH released AS (DELETE FROM turn_locks WHERE conversation_id = $1 AND holder = $2 RETURNING conversation_id)
            SELECT pg_notify('\(Notifications.turnLockChannel)', conversation_id) FROM released
            """,
            [.text(lock.conversationID), .text(lock.holder)]
        )
    }
}
