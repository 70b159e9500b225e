import FoundationEssentials
import Store

extension PostgresStore {
    /// One round trip (`askd_admit`): the token's advisory lock serialises its admissions across
    /// hosts, and every time is the server's, so hosts whose clocks differ count alike.
    public func admit(tokenID: String, limits: TokenLimits, at date: Date) throws -> Admission {
        let holder = limits.maxParallel == nil ? nil : UUID().uuidString
        let admission = try withConnection { db in try Self.callAdmit(tokenID: tokenID, limits: limits, holder: holder, count: true, leaseMilliseconds: leaseMilliseconds, on: db) }
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
            try Self.callAdmit(tokenID: tokenID, limits: limits, holder: nil, count: false, leaseMilliseconds: leaseMilliseconds, on: db).readings
        }
    }

    private static func callAdmit(
        tokenID: String, limits: TokenLimits, holder: String?, count: Bool, leaseMilliseconds: Int64, on db: PostgresConnection
    ) throws -> Admission {
        let rows = try db.query(
            "SELECT * FROM askd_admit($1, $2, $3, $4, $5, $6, $7, $8)",
            [.text(tokenID), .integer(limits.requestsPerMinute), .integer(limits.tokensPerMinute), .integer(limits.tokensPerDay),
             .integer(limits.maxParallel), .text(holder), .integer(leaseMilliseconds), .boolean(count)]
        ) { row in
            (now: row.integer(0) ?? 0, admitted: row.integer(1) == 1, slots: Int(row.integer(2) ?? 0), today: Int(row.integer(3) ?? 0),
             bucket: row.integer(4).map { WindowBucket(second: $0, requests: Int(row.integer(5) ?? 0), tokens: Int(row.integer(6) ?? 0)) })
        }
        guard let first = rows.first else { throw StoreError.unavailable("askd_admit returned no row") }
        let now = Date(milliseconds: first.now)
        let readings = LimitReadings(at: now, buckets: rows.compactMap(\.bucket), slotsInUse: first.slots, tokensToday: first.today)
        let ticket = first.admitted
            ? AdmissionTicket(tokenID: tokenID, slot: holder, second: limits.isWindowed ? RateWindow.second(of: now) : nil) : nil
        return Admission(readings: readings, ticket: ticket)
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

    /// Reads a token's counters and, when `p_count` and `RateWindow.refusal` admits (the same
    /// four comparisons), counts the request: one bucket row for its second and one slot row.
    /// Returns a row per bucket that counts (the first carries the rest; with no bucket, one
    /// row with a NULL second), as they were before the request.
    static let admitFunction = """
        CREATE FUNCTION askd_admit(
            p_token TEXT, p_rpm BIGINT, p_tpm BIGINT, p_per_day BIGINT, p_parallel BIGINT, p_holder TEXT, p_lease BIGINT,
            p_count BOOLEAN
        ) RETURNS TABLE (
            out_now BIGINT, out_admitted BOOLEAN, out_slots BIGINT, out_today BIGINT, out_second BIGINT, out_requests BIGINT,
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
            v_admitted BOOLEAN;
        BEGIN
            IF p_count THEN
                -- The token's admissions queue on its lock until the commit: a commit that waited
                -- for the WAL's flush would serialise them on the disk. A crash may lose the
                -- counts of the last moments, never let a process see a count that did not commit.
                PERFORM set_config('synchronous_commit', 'off', true);
                PERFORM pg_advisory_xact_lock(1634954084, hashtext(p_token));
            END IF;
            v_now := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
            v_second := v_now / 1000;
            IF p_parallel IS NOT NULL THEN
                SELECT COUNT(*) INTO v_slots FROM parallel_slots s WHERE s.token_id = p_token AND s.expires_at >= v_now;
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
            v_admitted := p_count AND NOT (
                (p_per_day IS NOT NULL AND v_today >= p_per_day) OR (p_parallel IS NOT NULL AND v_slots >= p_parallel)
                OR (p_rpm IS NOT NULL AND v_requests >= p_rpm) OR (p_tpm IS NOT NULL AND v_tokens >= p_tpm)
            );
            IF v_admitted AND v_windowed THEN
                INSERT INTO rate_buckets AS b (token_id, second, requests, tokens) VALUES (p_token, v_second, 1, 0)
                ON CONFLICT (token_id, second) DO UPDATE SET requests = b.requests + 1;
                -- Once a second, with the second's first request: the buckets that no longer count.
                IF v_seconds IS NULL OR v_seconds[array_length(v_seconds, 1)] <> v_second THEN
                    DELETE FROM rate_buckets b WHERE b.token_id = p_token AND b.second < v_second - 60;
                END IF;
            END IF;
            IF v_admitted AND p_parallel IS NOT NULL THEN
                DELETE FROM parallel_slots s WHERE s.token_id = p_token AND s.expires_at < v_now;
                INSERT INTO parallel_slots (holder, token_id, expires_at) VALUES (p_holder, p_token, v_now + p_lease);
            END IF;
            RETURN QUERY SELECT v_now, v_admitted, v_slots, v_today, w.s, w.r, w.t
                FROM (SELECT 1) AS one LEFT JOIN unnest(v_seconds, v_counts, v_spent) AS w(s, r, t) ON true;
        END
        $$
        """
}
