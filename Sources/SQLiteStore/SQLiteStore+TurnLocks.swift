import FoundationEssentials
import Store

extension SQLiteStore {
    public func acquireTurnLock(
        conversationID: String, timeout: Double, then completion: @escaping @Sendable (Result<TurnLock, any Error>) -> Void
    ) {
        let holder = UUID().uuidString
        leases.acquire(conversationID: conversationID, timeout: timeout, take: { [self] in
            let acquired = try withConnection { db in
                try db.writeTransaction {
                    let now = Date()
                    try db.execute(
                        "DELETE FROM turn_locks WHERE conversation_id = ? AND expires_at < ?", [.text(conversationID), .date(now)]
                    )
                    try db.execute(
                        "INSERT OR IGNORE INTO turn_locks (conversation_id, holder, expires_at) VALUES (?, ?, ?)",
                        [.text(conversationID), .text(holder), .date(now.addingTimeInterval(leaseSeconds))]
                    )
                    return db.changes == 1
                }
            }
            return acquired ? TurnLock(conversationID: conversationID, holder: holder) : nil
        }, isHeld: { [self] in
            try withConnection { db in
                try !db.query(
                    "SELECT 1 FROM turn_locks WHERE conversation_id = ? AND expires_at >= ?", [.text(conversationID), .date(Date())]
                ) { _ in true }.isEmpty
            }
        }, then: completion)
    }

    /// Gives the lock back now, or, if the database refuses, at the next renewals.
    public func releaseTurnLock(_ lock: TurnLock) {
        leases.giveBack(lock)
    }

    static func renew(_ locks: [TurnLock], for seconds: Double, on db: SQLiteConnection) throws {
        try db.writeTransaction {
            let until = Date().addingTimeInterval(seconds)
            for lock in locks {
                try db.execute(
                    "UPDATE turn_locks SET expires_at = ? WHERE conversation_id = ? AND holder = ?",
                    [.date(until), .text(lock.conversationID), .text(lock.holder)]
                )
            }
        }
    }

    static func release(_ lock: TurnLock, on db: SQLiteConnection) throws {
        try db.writeTransaction {
            try db.execute("DELETE FROM turn_locks WHERE conversation_id = ? AND holder = ?", [.text(lock.conversationID), .text(lock.holder)])
        }
    }
}
