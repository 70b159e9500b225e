import Auth
import FoundationEssentials
import HTTP
import JSON
import Store

/// `GET /usage`: the caller's usage as the upstream reported it, today (UTC) and in total,
/// its token's limits (null where none is set) and what remains of each now:
/// `{"today": {"date", "requests", "prompt_tokens", "completion_tokens"}, "total": {...},
/// "limits": {"rpm", "tpm", "tokens_per_day", "max_parallel", "models"},
/// "remaining": {"requests", "tokens", "tokens_today", "parallel"}}`.
public struct UsageHandler: Sendable {
    let store: any ConversationStore
    let verifier: any TokenVerifier
    let admission: TokenAdmission
    let clock: @Sendable () -> Date
    /// Usage counted but not yet written, flushed before every read.
    let ledger: UsageLedger?

    public init(
        store: any ConversationStore, verifier: any TokenVerifier, defaultLimits: TokenLimits = TokenLimits(),
        clock: @escaping @Sendable () -> Date = { Date() }, ledger: UsageLedger? = nil, allowances: AllowanceBroker? = nil
    ) {
        self.store = store
        self.ledger = ledger
        self.verifier = verifier
        self.clock = clock
        admission = TokenAdmission(store: store, defaults: defaultLimits, maxTokens: .max, clock: clock, broker: allowances)
    }

    public func handle(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        let today = clock().usageDay
        ledger?.flush()
        let usage = try store.usage(owner: token.id, day: today)
        let state = try admission.state(of: token)
        var day = Self.totals(usage.day)
        day["date"] = .string(today)
        let body = JSONValue.object([
            "today": .object(day), "total": .object(Self.totals(usage.total)), "limits": Self.limits(state.limits),
            "remaining": .object([
                "requests": Self.number(state.remainingRequests), "tokens": Self.number(state.remainingTokens),
                "tokens_today": Self.number(state.remainingTokensToday), "parallel": Self.number(state.remainingParallel),
            ]),
        ])
        return .json(.ok, body.serialized, headers: RateLimitHeaders.headers(for: state))
    }

    static func limits(_ limits: TokenLimits) -> JSONValue {
        .object([
            "rpm": number(limits.requestsPerMinute), "tpm": number(limits.tokensPerMinute), "tokens_per_day": number(limits.tokensPerDay),
            "max_parallel": number(limits.maxParallel), "models": limits.models.map { .array($0.map(JSONValue.string)) } ?? .null,
        ])
    }

    private static func number(_ value: Int?) -> JSONValue {
        value.map(JSONValue.integer) ?? .null
    }

    private static func totals(_ totals: UsageTotals) -> [String: JSONValue] {
        [
            "requests": .integer(totals.requests), "prompt_tokens": .integer(totals.promptTokens),
            "completion_tokens": .integer(totals.completionTokens),
        ]
    }
}
