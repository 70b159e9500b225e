import FoundationEssentials
import Store

extension PostgresStore {
    /// One round trip (`askd_admit`): the token's advisory lock serialises its admissions across
    /// hosts, and every time is the server's, so hosts whose clocks differ count alike.
    public func admit(tokenID: String, limits: TokenLimits, at date: Date, wanted: Int) throws -> Admission {
        let holder = limits.maxParallel == nil ? nil : UUID().uuidString
        let admission = try withConnection { db in
            try Self.callAdmit(tokenID: tokenID, limits: limits, holder: holder, wanted: wanted, leaseMilliseconds: leaseMilliseconds, on: db)
        }
        if let slot = admission.ticket?.slot { slotLeases.hold(slot) }
        return admission
    }

    public func finishAdmission(_ ticket: AdmissionTicket, tokens: Int, counted: Bool, at date: Date) {
        if let slot = ticket.slot { slotLeases.forget(slot) }
        guard ticket.slot != nil || (ticket.second != nil && (tokens > 0 || !counted)) else { return }
        do {
            _ = try withConnection { db in try Self.finish(ticket, tokens: tokens, counted: counted, on: db) }
        } catch {
            if let slot = ticket.slot { slotLeases.releaseLater(slot) }
        }
    }

    public func limitReadings(tokenID: String, limits: TokenLimits, at date: Date) throws -> LimitReadings {
        try withConnection { db in
            try Self.callAdmit(tokenID: tokenID, limits: limits, holder: nil, wanted: 0, leaseMilliseconds: leaseMilliseconds, on: db).readings
        }
    }

    private static func callAdmit(
        tokenID: String, limits: TokenLimits, holder: String?, wanted: Int, leaseMilliseconds: Int64, on db: PostgresConnection
    ) throws -> Admission {
        let rows = try db.query(
            "SELECT * FROM askd_admit($1, $2, $3, $4, $5, $6, $7, $8)",
            [.text(tokenID), .integer(limits.requestsPerMinute), .integer(limits.tokensPerMinute), .integer(limits.tokensPerDay),
             .integer(limits.maxParallel), .text(holder), .integer(leaseMilliseconds), .integer(Int64(wanted))]
        ) { row in
            (now: row.integer(0) ?? 0, granted: Int(row.integer(1) ?? 0), slots: Int(row.integer(2) ?? 0), today: Int(row.integer(3) ?? 0),
             bucket: row.integer(4).map { WindowBucket(second: $0, requests: Int(row.integer(5) ?? 0), tokens: Int(row.integer(6) ?? 0)) })
        }
        guard let first = rows.first else { throw StoreError.unavailable("askd_admit returned no row") }
        let now = Date(milliseconds: first.now)
        let readings = LimitReadings(at: now, buckets: rows.compactMap(\.bucket), slotsInUse: first.slots, tokensToday: first.today)
        let ticket = first.granted > 0
            ? AdmissionTicket(tokenID: tokenID, slot: holder, second: limits.isWindowed ? RateWindow.second(of: now) : nil, count: first.granted)
            : nil
        return Admission(readings: readings, ticket: ticket)
    }

    public func settle(_ settlements: [Settlement], at date: Date) throws {
        // Two statements a settlement, in one transaction: one statement may not change a bucket row twice.
        _ = try withConnection { db in
            try db.transaction {
                _ = try db.execute("SELECT set_config('synchronous_commit', 'off', true)")
                for settlement in settlements {
                    let ticket = settlement.ticket
                    _ = try db.execute(
                        """
                        WITH kept AS (
                            UPDATE parallel_slots SET slots = $4 WHERE holder = $1 AND $4 > 0
                        ), ended AS (
                            DELETE FROM parallel_slots WHERE holder = $1 AND $4 = 0
                        )
                        UPDATE rate_buckets SET requests = greatest(0, requests - $5) WHERE token_id = $2 AND second = $3 AND $5 > 0
                        """,
                        [.text(ticket.slot), .text(ticket.tokenID), .integer(ticket.second), .integer(Int64(settlement.slotsKept)),
                         .integer(Int64(settlement.returning))]
                    )
                    guard settlement.tokens > 0, ticket.second != nil else { continue }
                    _ = try db.execute(
                        """
                        INSERT INTO rate_buckets (token_id, second, requests, tokens)
                        VALUES ($1, floor(extract(epoch FROM clock_timestamp()))::bigint, 0, $2)
                        ON CONFLICT (token_id, second) DO UPDATE SET tokens = rate_buckets.tokens + excluded.tokens
                        """,
                        [.text(ticket.tokenID), .integer(Int64(settlement.tokens))]
                    )
                }
            }
        }
        for settlement in settlements where settlement.slotsKept == 0 {
            if let slot = settlement.ticket.slot { slotLeases.forget(slot) }
        }
    }

    /// The ticket's end in one statement: the slot deleted, the request taken back out of the
    /// window when it never reached the model, and the model's tokens counted in the server's
    /// current second.
    @discardableResult
    static func finish(_ ticket: AdmissionTicket, tokens: Int, counted: Bool, on db: PostgresConnection) throws -> Int {
        try db.execute(
            """
            WITH unflushed AS (
                -- As for `askd_admit`: counters need not wait for the WAL's flush.
                SELECT set_config('synchronous_commit', 'off', true)
            ), slot AS (
                DELETE FROM parallel_slots WHERE holder = $1
            ), uncounted AS (
                UPDATE rate_buckets SET requests = requests - 1 WHERE token_id = $2 AND second = $3 AND requests > 0 AND NOT $4
            ), spent AS (
                INSERT INTO rate_buckets (token_id, second, requests, tokens)
                SELECT $2, floor(extract(epoch FROM clock_timestamp()))::bigint, 0, $5 WHERE $5 > 0 AND $3 IS NOT NULL
                ON CONFLICT (token_id, second) DO UPDATE SET tokens = rate_buckets.tokens + excluded.tokens
            )
            SELECT 1 FROM unflushed
            """,
            [.text(ticket.slot), .text(ticket.tokenID), .integer(ticket.second), .boolean(counted), .integer(counted ? tokens : 0)]
        )
    }

    static func renewSlots(_ holders: [String], for seconds: Double, on db: PostgresConnection) throws {
        for holder in holders {
            _ = try db.execute(
                "UPDATE parallel_slots SET expires_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $2 WHERE holder = $1",
                [.text(holder), .integer(Int64(seconds * 1000))]
            )
        }
    }

    static func releaseSlot(_ holder: String, on db: PostgresConnection) throws {
        _ = try db.execute("DELETE FROM parallel_slots WHERE holder = $1", [.text(holder)])
    }

    /// `askd_admit` as processes of the release before reservations call it (one request, or
    /// none when `p_count` is false), so that they keep working beside newer ones while hosts
    /// are upgraded one by one.
    static let earlierAdmitFunction = """
        CREATE OR REPLACE FUNCTION askd_admit(
            p_token TEXT, p_rpm BIGINT, p_tpm BIGINT, p_per_day BIGINT, p_parallel BIGINT, p_holder TEXT, p_lease BIGINT,
            p_count BOOLEAN
        ) RETURNS TABLE (
            out_now BIGINT, out_admitted BOOLEAN, out_slots BIGINT, out_today BIGINT, out_second BIGINT, out_requests BIGINT,
            out_tokens BIGINT
        ) LANGUAGE sql AS $$
            SELECT a.out_now, a.out_granted > 0, a.out_slots, a.out_today, a.out_second, a.out_requests, a.out_tokens
            FROM askd_admit(p_token, p_rpm, p_tpm, p_per_day, p_parallel, p_holder, p_lease, CASE WHEN p_count THEN 1::bigint ELSE 0::bigint END) AS a
        $$
        """

    /// Reads a token's counters and, when `p_wanted` is above 0, admits as many requests as
    /// `RateWindow.grant` would (the same comparisons and shares), counted in one bucket row for
    /// their second and one slot row holding their slots. Returns how many (0: refused) and a
    /// row per bucket that counts (the first carries the rest; with no bucket, one row with a
    /// NULL second), as they were before the requests.
    static let admitFunction = """
        CREATE OR REPLACE FUNCTION askd_admit(
            p_token TEXT, p_rpm BIGINT, p_tpm BIGINT, p_per_day BIGINT, p_parallel BIGINT, p_holder TEXT, p_lease BIGINT,
            p_wanted BIGINT
        ) RETURNS TABLE (
            out_now BIGINT, out_granted BIGINT, out_slots BIGINT, out_today BIGINT, out_second BIGINT, out_requests BIGINT,
            out_tokens BIGINT
        ) LANGUAGE plpgsql AS $$
        DECLARE
            v_now BIGINT;
            v_second BIGINT;
            v_windowed BOOLEAN := p_rpm IS NOT NULL OR p_tpm IS NOT NULL;
            v_slots BIGINT := 0;
            v_today BIGINT := 0;
            v_requests BIGINT := 0;
            v_tokens BIGINT := 0;
            v_seconds BIGINT[];
            v_counts BIGINT[];
            v_spent BIGINT[];
            v_granted BIGINT := 0;
        BEGIN
            IF p_wanted > 0 THEN
                -- The token's admissions queue on its lock until the commit: a commit that waited
                -- for the WAL's flush would serialise them on the disk. A crash may lose the
                -- counts of the last moments, never let a process see a count that did not commit.
                PERFORM set_config('synchronous_commit', 'off', true);
                PERFORM pg_advisory_xact_lock(1634954084, hashtext(p_token));
            END IF;
            v_now := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
            v_second := v_now / 1000;
            IF p_parallel IS NOT NULL THEN
                SELECT COALESCE(SUM(s.slots), 0) INTO v_slots FROM parallel_slots s WHERE s.token_id = p_token AND s.expires_at >= v_now;
            END IF;
            IF p_per_day IS NOT NULL THEN
                SELECT COALESCE(SUM(u.prompt_tokens + u.completion_tokens), 0) INTO v_today FROM usage_daily u
                WHERE u.token_id = p_token AND u.day = to_char(to_timestamp(v_second) AT TIME ZONE 'UTC', 'YYYY-MM-DD');
            END IF;
            IF v_windowed THEN
                SELECT array_agg(b.second ORDER BY b.second), array_agg(b.requests ORDER BY b.second),
                    array_agg(b.tokens ORDER BY b.second), COALESCE(SUM(b.requests), 0), COALESCE(SUM(b.tokens), 0)
                INTO v_seconds, v_counts, v_spent, v_requests, v_tokens
                FROM rate_buckets b WHERE b.token_id = p_token AND b.second >= v_second - 60;
            END IF;
            IF p_wanted > 0 AND NOT (
                (p_per_day IS NOT NULL AND v_today >= p_per_day) OR (p_parallel IS NOT NULL AND v_slots >= p_parallel)
                OR (p_rpm IS NOT NULL AND v_requests >= p_rpm) OR (p_tpm IS NOT NULL AND v_tokens >= p_tpm)
            ) THEN
                v_granted := least(
                    p_wanted,
                    CASE WHEN p_rpm IS NULL THEN p_wanted ELSE greatest(1, (p_rpm - v_requests) / \(RateWindow.reservationShare)) END,
                    CASE WHEN p_parallel IS NULL THEN p_wanted ELSE greatest(1, (p_parallel - v_slots) / \(RateWindow.reservationShare)) END,
                    CASE WHEN p_tpm IS NULL THEN p_wanted
                        ELSE greatest(1, (p_tpm - v_tokens) / \(RateWindow.tokensPerRequestEstimate) / \(RateWindow.reservationShare)) END,
                    CASE WHEN p_per_day IS NULL THEN p_wanted
                        ELSE greatest(1, (p_per_day - v_today) / \(RateWindow.tokensPerRequestEstimate) / \(RateWindow.reservationShare)) END
                );
            END IF;
            IF v_granted > 0 AND v_windowed THEN
                INSERT INTO rate_buckets AS b (token_id, second, requests, tokens) VALUES (p_token, v_second, v_granted, 0)
                ON CONFLICT (token_id, second) DO UPDATE SET requests = b.requests + v_granted;
                -- Once a second, with the second's first request: the buckets that no longer count.
                IF v_seconds IS NULL OR v_seconds[array_length(v_seconds, 1)] <> v_second THEN
                    DELETE FROM rate_buckets b WHERE b.token_id = p_token AND b.second < v_second - 60;
                END IF;
            END IF;
            IF v_granted > 0 AND p_parallel IS NOT NULL THEN
                DELETE FROM parallel_slots s WHERE s.token_id = p_token AND s.expires_at < v_now;
                INSERT INTO parallel_slots (holder, token_id, expires_at, slots) VALUES (p_holder, p_token, v_now + p_lease, v_granted);
            END IF;
            RETURN QUERY SELECT v_now, v_granted, v_slots, v_today, w.s, w.r, w.t
                FROM (SELECT 1) AS one LEFT JOIN unnest(v_seconds, v_counts, v_spent) AS w(s, r, t) ON true;
        END
        $$
        """
}
