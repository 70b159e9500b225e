import FoundationEssentials
import Store

extension PostgresStore {
    public func recordUsage(owner: String, day: String, adding totals: UsageTotals) throws {
        _ = try withConnection { db in
            try db.execute(
                """
                INSERT INTO usage_daily (token_id, day, shard, requests, prompt_tokens, completion_tokens) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (token_id, day, shard) DO UPDATE SET requests = usage_daily.requests + excluded.requests,
                    prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
                    completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens
                """,
                [.text(owner), .text(day), .integer(Self.usageShard(for: owner)), .integer(totals.requests),
                 .integer(totals.promptTokens), .integer(totals.completionTokens)]
            )
        }
    }

    public func usage(owner: String, day: String) throws -> (day: UsageTotals, total: UsageTotals) {
        try withConnection { db in
            try db.query(
                """
                SELECT COALESCE(SUM(requests), 0)::BIGINT, COALESCE(SUM(prompt_tokens), 0)::BIGINT,
                    COALESCE(SUM(completion_tokens), 0)::BIGINT,
                    COALESCE(SUM(requests) FILTER (WHERE day = $2), 0)::BIGINT,
                    COALESCE(SUM(prompt_tokens) FILTER (WHERE day = $2), 0)::BIGINT,
                    COALESCE(SUM(completion_tokens) FILTER (WHERE day = $2), 0)::BIGINT
                FROM usage_daily WHERE token_id = $1
                """,
                [.text(owner), .text(day)]
            ) { row in
                (
                    day: UsageTotals(requests: Int(row.integer(3) ?? 0), promptTokens: Int(row.integer(4) ?? 0), completionTokens: Int(row.integer(5) ?? 0)),
                    total: UsageTotals(requests: Int(row.integer(0) ?? 0), promptTokens: Int(row.integer(1) ?? 0), completionTokens: Int(row.integer(2) ?? 0))
                )
            }.first ?? (UsageTotals(), UsageTotals())
        }
    }
}
