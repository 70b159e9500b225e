import App
import ArgumentParser
import FoundationEssentials
import HTTP
import JSON
import Store

extension TokenCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List tokens with their limits and today's usage (UTC): never the tokens themselves.",
            discussion: "A limit marked * is askd's default (ASKD_DEFAULT_* in this environment), as the token sets none."
        )

        @Flag(help: "One JSON array, for scripts: each token's fields, its own limits (null: none) and today's usage.")
        var json = false

        func run() throws {
            let now = Date()
            let store = try TokenCommand.openStore()
            let defaults = try ServeConfiguration.defaultLimits(environment: ProcessEnvironment.current())
            let tokens = try store.allTokens().map { token in (token, try store.usage(owner: token.id, day: now.usageDay).day) }
            if json {
                print(String(decoding: JSONValue.array(tokens.map { Self.json($0, today: $1, at: now) }).serialized, as: UTF8.self))
            } else {
                Self.table(tokens, defaults: defaults, at: now)
            }
        }

        static func status(of token: TokenRecord, at now: Date) -> String {
            token.revokedAt.map { "revoked " + RFC3339.format($0) } ?? (token.isValid(at: now) ? "active" : "expired")
        }

        static func table(_ tokens: [(TokenRecord, UsageTotals)], defaults: TokenLimits, at now: Date) {
            func limit(_ own: Int?, _ fallback: Int?) -> String {
                own.map(String.init) ?? fallback.map { "\($0)*" } ?? "-"
            }
            let rows = tokens.map { token, today in
                [
                    token.id, token.name, RFC3339.format(token.createdAt), token.lastUsedAt.map(RFC3339.format) ?? "never",
                    token.expiresAt.map(RFC3339.format) ?? "never", status(of: token, at: now),
                    limit(token.limits.requestsPerMinute, defaults.requestsPerMinute), limit(token.limits.tokensPerMinute, defaults.tokensPerMinute),
                    limit(token.limits.tokensPerDay, defaults.tokensPerDay), limit(token.limits.maxParallel, defaults.maxParallel),
                    token.limits.models?.joined(separator: ",") ?? "any",
                    "\(today.requests) req, \(today.promptTokens + today.completionTokens) tok",
                ]
            }
            let header = ["ID", "NAME", "CREATED", "LAST USED", "EXPIRES", "STATUS", "RPM", "TPM", "TOKENS/DAY", "PARALLEL", "MODELS", "TODAY"]
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                print(row.enumerated().map { column, text in
                    column == row.count - 1 ? text : text + String(repeating: " ", count: widths[column] - text.count)
                }.joined(separator: "  "))
            }
        }

        static func json(_ token: TokenRecord, today: UsageTotals, at now: Date) -> JSONValue {
            func date(_ date: Date?) -> JSONValue { date.map { .string(RFC3339.format($0)) } ?? .null }
            func number(_ value: Int?) -> JSONValue { value.map(JSONValue.integer) ?? .null }
            return .object([
                "id": .string(token.id), "name": .string(token.name), "created_at": date(token.createdAt),
                "last_used_at": date(token.lastUsedAt), "expires_at": date(token.expiresAt), "revoked_at": date(token.revokedAt),
                "status": .string(token.revokedAt != nil ? "revoked" : token.isValid(at: now) ? "active" : "expired"),
                "limits": .object([
                    "rpm": number(token.limits.requestsPerMinute), "tpm": number(token.limits.tokensPerMinute),
                    "tokens_per_day": number(token.limits.tokensPerDay), "max_parallel": number(token.limits.maxParallel),
                    "models": token.limits.models.map { .array($0.map(JSONValue.string)) } ?? .null,
                ]),
                "today": .object([
                    "date": .string(now.usageDay), "requests": .integer(today.requests), "prompt_tokens": .integer(today.promptTokens),
                    "completion_tokens": .integer(today.completionTokens),
                ]),
            ])
        }
    }
}
