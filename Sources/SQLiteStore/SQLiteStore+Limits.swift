import FoundationEssentials
import Store

extension SQLiteStore {
    /// Read and counted in a write transaction: every process on the host takes the same write
    /// lock, so no two admissions of any token interleave. Admissions asked for at the same
    /// moment by different threads share one transaction (`GroupCommit`), each seeing the ones
    /// before it, so that under load an admission costs a share of a commit, not one of its own.
    public func admit(tokenID: String, limits: TokenLimits, at date: Date, wanted: Int) throws -> Admission {
        let pending = PendingAdmission(
            tokenID: tokenID, limits: limits, date: date, holder: limits.maxParallel == nil ? nil : UUID().uuidString, wanted: wanted
        )
        pending.leaseSeconds = leaseSeconds
        try Self.mappingErrors {
            try admissions.submit(pending) { batch in
                do {
                    try withConnection { db in
                        try db.writeTransaction { for item in batch { item.admission = try Self.admit(item, on: db) } }
                    }
                    return batch.map { _ in .success(()) }
                } catch {
                    return batch.map { _ in .failure(error) }
                }
            }
        }
        guard let admission = pending.admission else { throw StoreError.unavailable("an admission was not settled") }
        if let slot = admission.ticket?.slot { slotLeases.hold(slot) }
        return admission
    }

    private static func admit(_ item: PendingAdmission, on db: SQLiteConnection) throws -> Admission {
        let (tokenID, limits, date) = (item.tokenID, item.limits, item.date)
        let readings = try readings(tokenID: tokenID, limits: limits, at: date, on: db)
        let count = RateWindow.grant(limits, readings, wanted: item.wanted)
        guard count > 0 else { return Admission(readings: readings, ticket: nil) }
        var second: Int64?
        if limits.isWindowed {
            let now = RateWindow.second(of: date)
            second = now
            try db.execute(
                """
                INSERT INTO rate_buckets (token_id, second, requests, tokens) VALUES (?, ?, ?, 0)
                ON CONFLICT (token_id, second) DO UPDATE SET requests = requests + excluded.requests
                """,
                [.text(tokenID), .integer(now), .integer(Int64(count))]
            )
            // Once a second, with the second's first request: the buckets that no longer count.
            if readings.buckets.last?.second != now {
                try db.execute(
                    "DELETE FROM rate_buckets WHERE token_id = ? AND second < ?", [.text(tokenID), .integer(RateWindow.firstCounted(at: date))]
                )
            }
        }
        if let holder = item.holder {
            try db.execute("DELETE FROM parallel_slots WHERE token_id = ? AND expires_at < ?", [.text(tokenID), .date(date)])
            try db.execute(
                "INSERT INTO parallel_slots (holder, token_id, expires_at, slots) VALUES (?, ?, ?, ?)",
                [.text(holder), .text(tokenID), .date(date.addingTimeInterval(item.leaseSeconds)), .integer(Int64(count))]
            )
        }
        return Admission(readings: readings, ticket: AdmissionTicket(tokenID: tokenID, slot: item.holder, second: second, count: count))
    }

    public func finishAdmission(_ ticket: AdmissionTicket, tokens: Int, counted: Bool, at date: Date) {
        if let slot = ticket.slot { slotLeases.forget(slot) }
        guard ticket.slot != nil || (ticket.second != nil && (tokens > 0 || !counted)) else { return }
        do {
            try withConnection { db in try db.writeTransaction { try Self.finish(ticket, tokens: tokens, counted: counted, at: date, on: db) } }
        } catch {
            if let slot = ticket.slot { slotLeases.releaseLater(slot) }
        }
    }

    public func settle(_ settlements: [Settlement], at date: Date) throws {
        try Self.mappingErrors {
            try withConnection { db in
                try db.writeTransaction {
                    for settlement in settlements {
                        let ticket = settlement.ticket
                        if let slot = ticket.slot {
                            if settlement.slotsKept > 0 {
                                try db.execute("UPDATE parallel_slots SET slots = ? WHERE holder = ?", [.integer(Int64(settlement.slotsKept)), .text(slot)])
                            } else {
                                try db.execute("DELETE FROM parallel_slots WHERE holder = ?", [.text(slot)])
                            }
                        }
                        try Self.count(ticket, returning: settlement.returning, tokens: settlement.tokens, at: date, on: db)
                    }
                }
            }
        }
        for settlement in settlements where settlement.slotsKept == 0 {
            if let slot = settlement.ticket.slot { slotLeases.forget(slot) }
        }
    }

    public func limitReadings(tokenID: String, limits: TokenLimits, at date: Date) throws -> LimitReadings {
        try withConnection { db in try Self.readings(tokenID: tokenID, limits: limits, at: date, on: db) }
    }

    /// The ticket's end, inside the caller's transaction (a turn's commit, or one of its own).
    static func finish(_ ticket: AdmissionTicket, tokens: Int, counted: Bool, at date: Date, on db: SQLiteConnection) throws {
        if let slot = ticket.slot {
            try db.execute("DELETE FROM parallel_slots WHERE holder = ?", [.text(slot)])
        }
        try count(ticket, returning: counted ? 0 : 1, tokens: counted ? tokens : 0, at: date, on: db)
    }

    /// Takes `returning` of the ticket's requests back out of its bucket, and counts `tokens` in the bucket of `date`.
    private static func count(_ ticket: AdmissionTicket, returning: Int, tokens: Int, at date: Date, on db: SQLiteConnection) throws {
        guard let second = ticket.second else { return }
        if returning > 0 {
            try db.execute(
                "UPDATE rate_buckets SET requests = max(0, requests - ?) WHERE token_id = ? AND second = ?",
                [.integer(Int64(returning)), .text(ticket.tokenID), .integer(second)]
            )
        }
        if tokens > 0 {
            try db.execute(
                """
                INSERT INTO rate_buckets (token_id, second, requests, tokens) VALUES (?, ?, 0, ?)
                ON CONFLICT (token_id, second) DO UPDATE SET tokens = tokens + excluded.tokens
                """,
                [.text(ticket.tokenID), .integer(RateWindow.second(of: date)), .integer(Int64(tokens))]
            )
        }
    }

    /// What `limits` need of the token's counters: the window's buckets, the slots in use, the day's tokens.
    static func readings(tokenID: String, limits: TokenLimits, at date: Date, on db: SQLiteConnection) throws -> LimitReadings {
        var readings = LimitReadings(at: date)
        if limits.isWindowed {
            readings.buckets = try db.query(
                "SELECT second, requests, tokens FROM rate_buckets WHERE token_id = ? AND second >= ? ORDER BY second",
                [.text(tokenID), .integer(RateWindow.firstCounted(at: date))]
            ) { WindowBucket(second: $0.integer(0) ?? 0, requests: Int($0.integer(1) ?? 0), tokens: Int($0.integer(2) ?? 0)) }
        }
        if limits.maxParallel != nil {
            readings.slotsInUse = try db.query(
                "SELECT COALESCE(SUM(slots), 0) FROM parallel_slots WHERE token_id = ? AND expires_at >= ?", [.text(tokenID), .date(date)]
            ) { Int($0.integer(0) ?? 0) }.first ?? 0
        }
        if limits.tokensPerDay != nil {
            readings.tokensToday = try db.query(
                "SELECT prompt_tokens + completion_tokens FROM usage_daily WHERE token_id = ? AND day = ?",
                [.text(tokenID), .text(date.usageDay)]
            ) { Int($0.integer(0) ?? 0) }.first ?? 0
        }
        return readings
    }

    static func renewSlots(_ holders: [String], for seconds: Double, on db: SQLiteConnection) throws {
        try db.writeTransaction {
            let until = Date().addingTimeInterval(seconds)
            for holder in holders {
                try db.execute("UPDATE parallel_slots SET expires_at = ? WHERE holder = ?", [.date(until), .text(holder)])
            }
        }
    }

    static func releaseSlot(_ holder: String, on db: SQLiteConnection) throws {
        try db.writeTransaction { try db.execute("DELETE FROM parallel_slots WHERE holder = ?", [.text(holder)]) }
    }
}

/// One admission waiting for its batch's transaction (`SQLiteStore.admit`); the leader of the
/// batch sets `admission` before the owner wakes.
final class PendingAdmission: @unchecked Sendable {
    let tokenID: String
    let limits: TokenLimits
    let date: Date
    let holder: String?
    let wanted: Int
    var leaseSeconds = 30.0
    var admission: Admission?

    init(tokenID: String, limits: TokenLimits, date: Date, holder: String?, wanted: Int) {
        self.tokenID = tokenID
        self.limits = limits
        self.date = date
        self.holder = holder
        self.wanted = wanted
    }
}
