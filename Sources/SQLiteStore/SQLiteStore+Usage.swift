import FoundationEssentials
import Store

extension SQLiteStore {
    public func recordUsage(owner: String, day: String, adding totals: UsageTotals) throws {
        try withConnection { db in
            try db.writeTransaction {
                try db.execute(
                    """
                    INSERT INTO usage_daily (token_id, day, requests, prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (token_id, day) DO UPDATE SET requests = requests + excluded.requests,
                        prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens
                    """,
                    [.text(owner), .text(day), .integer(totals.requests), .integer(totals.promptTokens), .integer(totals.completionTokens)]
                )
            }
        }
    }

    public func usage(owner: String, day: String) throws -> (day: UsageTotals, total: UsageTotals) {
        try withConnection { db in
            let totals = try db.query(
                """
                SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),
                    COALESCE(SUM(requests) FILTER (WHERE day = ?), 0), COALESCE(SUM(prompt_tokens) FILTER (WHERE day = ?), 0),
                    COALESCE(SUM(completion_tokens) FILTER (WHERE day = ?), 0)
                FROM usage_daily WHERE token_id = ?
                """,
                [.text(day), .text(day), .text(day), .text(owner)]
            ) { row in
                (
                    day: UsageTotals(requests: Int(row.integer(3) ?? 0), promptTokens: Int(row.integer(4) ?? 0), completionTokens: Int(row.integer(5) ?? 0)),
                    total: UsageTotals(requests: Int(row.integer(0) ?? 0), promptTokens: Int(row.integer(1) ?? 0), completionTokens: Int(row.integer(2) ?? 0))
                )
            }
            return totals.first ?? (UsageTotals(), UsageTotals())
        }
    }
}
