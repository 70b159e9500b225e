import Auth
import FoundationEssentials
import HTTP
import JSON
import Store

/// `GET /usage`: the caller's usage as the upstream reported it, today (UTC) and in total:
/// `{"today": {"date", "requests", "prompt_tokens", "completion_tokens"}, "total": {...}}`.
public struct UsageHandler: Sendable {
    let store: any ConversationStore
    let verifier: any TokenVerifier
    let clock: @Sendable () -> Date

    public init(store: any ConversationStore, verifier: any TokenVerifier, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.verifier = verifier
        self.clock = clock
    }

    public func handle(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        let today = clock().usageDay
        let usage = try store.usage(owner: token.id, day: today)
        var day = Self.totals(usage.day)
        day["date"] = .string(today)
        return .json(.ok, JSONValue.object(["today": .object(day), "total": .object(Self.totals(usage.total))]).serialized)
    }

    private static func totals(_ totals: UsageTotals) -> [String: JSONValue] {
        [
            "requests": .integer(totals.requests), "prompt_tokens": .integer(totals.promptTokens),
            "completion_tokens": .integer(totals.completionTokens),
        ]
    }
}
