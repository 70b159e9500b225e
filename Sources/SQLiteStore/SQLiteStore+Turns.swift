import FoundationEssentials
import Store

extension SQLiteStore {
    /// Turns committed at the same moment by different threads share one transaction (see
    /// `GroupCommit`), each in its own savepoint, so one turn's failure undoes only that turn.
    public func commitTurn(_ turn: Turn) throws {
        let writer = turnWriter
        try Self.mappingErrors { try turnCommits.submit(turn) { Self.commit($0, on: writer) } }
        if let slot = turn.admission?.slot { slotLeases.forget(slot) }
    }

    /// Turns handed over here are committed on a thread of the store's own, many to a
    /// transaction (see `BackgroundCommits`), and join the turns of waiting threads.
    public func commitTurn(_ turn: Turn, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        let slotLeases = slotLeases
        backgroundCommits.submit(turn) { result in
            if case .success = result, let slot = turn.admission?.slot { slotLeases.forget(slot) }
            completion(result.mapError(Self.mapped))
        }
    }

    /// Commits `turns` in one transaction, each in a savepoint: one result per turn, in order.
    static func commit(_ turns: [Turn], on writer: SQLiteConnection) -> [Result<Void, any Error>] {
        do {
            return try writer.writeTransaction {
                var results: [Result<Void, any Error>] = []
                for turn in turns {
                    do {
                        try writer.savepoint { try Self.insert(turn, into: writer) }
                        results.append(.success(()))
                    } catch let failure as SQLiteConnection.SavepointUndoFailed {
                        throw failure.error
                    } catch {
                        // If SQLite gave up the whole transaction, no turn of it stands.
                        guard writer.inTransaction else { throw error }
                        results.append(.failure(error))
                    }
                }
                return results
            }
        } catch {
            return turns.map { _ in .failure(error) }
        }
    }

    /// The conversation row (created or touched), the turn's two messages and its usage.
    private static func insert(_ turn: Turn, into db: SQLiteConnection) throws {
        let last: Int64
        if turn.startsConversation {
            // The primary key refuses an id that is taken; a foreign-key failure still throws.
            try db.execute(
                """
                INSERT INTO conversations (id, token_id, created_at, updated_at, title, system, model) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO NOTHING
                """,
                [.text(turn.conversationID), .text(turn.owner), .date(turn.date), .date(turn.date)] + values(turn.settings)
            )
            guard db.changes == 1 else { throw StoreError.duplicate("conversation \(turn.conversationID)") }
            // A new conversation has no messages: its messages reference it.
            last = 0
        } else {
            // Inside the write transaction, nobody can take the lock over before the commit.
            if let lock = turn.lock {
                let held = try db.query(
                    "SELECT 1 FROM turn_locks WHERE conversation_id = ? AND holder = ?", [.text(lock.conversationID), .text(lock.holder)]
                ) { _ in true }
                guard !held.isEmpty else { throw StoreError.turnLockLost(turn.conversationID) }
            }
            try db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ? AND token_id = ?",
                [.date(turn.date), .text(turn.conversationID), .text(turn.owner)]
            )
            guard db.changes == 1 else { throw StoreError.conversationNotFound(turn.conversationID) }
            last = try db.query(
                "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = ?", [.text(turn.conversationID)]
            ) { $0.integer(0) ?? 0 }.first ?? 0
        }
        try db.execute(insertMessage, [
            .text(turn.conversationID), .integer(last + 1), .text(MessageRole.user.rawValue), .text(turn.prompt),
            .null, .null, .null, .null, .date(turn.date),
        ])
        try db.execute(
            """
            INSERT INTO usage_daily (token_id, day, requests, prompt_tokens, completion_tokens) VALUES (?, ?, 1, ?, ?)
            ON CONFLICT (token_id, day) DO UPDATE SET requests = requests + 1,
                prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens
            """,
            [.text(turn.owner), .text(turn.date.usageDay), .integer(turn.usage?.promptTokens ?? 0), .integer(turn.usage?.completionTokens ?? 0)]
        )
        if let ticket = turn.admission {
            try finish(ticket, tokens: turn.usage.map { $0.promptTokens + $0.completionTokens } ?? 0, counted: true, at: turn.date, on: db)
        }
        try db.execute(insertMessage, [
            .text(turn.conversationID), .integer(last + 2), .text(MessageRole.assistant.rawValue), .text(turn.answer),
            .text(turn.model), .integer(turn.usage?.promptTokens), .integer(turn.usage?.completionTokens),
            .integer(turn.usage?.totalTokens), .date(turn.date),
        ])
    }
}
