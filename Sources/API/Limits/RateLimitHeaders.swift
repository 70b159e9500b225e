import HTTP
import Store

/// The headers and errors by which a client sees its token's limits: OpenAI's
/// `x-ratelimit-limit-*`, `x-ratelimit-remaining-*` and `x-ratelimit-reset-*` for requests and
/// for tokens (each trio only when that per-minute limit is set), and askd's own 429s, told
/// apart from the model's by their sentence.
enum RateLimitHeaders {
    static func headers(for state: LimitState) -> HTTPHeaders {
        var headers = HTTPHeaders()
        if let limit = state.limits.requestsPerMinute, let remaining = state.remainingRequests {
            headers.add(name: "x-ratelimit-limit-requests", value: String(limit))
            headers.add(name: "x-ratelimit-remaining-requests", value: String(remaining))
            headers.add(name: "x-ratelimit-reset-requests", value: duration(state.requestsReset))
        }
        if let limit = state.limits.tokensPerMinute, let remaining = state.remainingTokens {
            headers.add(name: "x-ratelimit-limit-tokens", value: String(limit))
            headers.add(name: "x-ratelimit-remaining-tokens", value: String(remaining))
            headers.add(name: "x-ratelimit-reset-tokens", value: duration(state.tokensReset))
        }
        return headers
    }

    /// The 429 of a refused request, with `Retry-After` in whole seconds (at least 1).
    static func refusal(_ state: LimitState, headers: HTTPHeaders) -> HTTPError {
        var error = refusalError(state, headers: headers)
        error.refusedBy = switch state.refusal {
        case .tokensPerDay?: "tokens_per_day"
        case .maxParallel?: "max_parallel"
        case .requestsPerMinute?, nil: "rpm"
        case .tokensPerMinute?: "tpm"
        }
        return error
    }

    private static func refusalError(_ state: LimitState, headers: HTTPHeaders) -> HTTPError {
        var headers = headers
        headers.add(name: "Retry-After", value: String(wholeSeconds(state.retryAfter ?? 1)))
        switch state.refusal {
        case .tokensPerDay?:
            headers.add(name: "x-should-retry", value: "false")
            return HTTPError(.tooManyRequests, "daily token quota exhausted", headers: headers)
        case .maxParallel(let limit)?:
            return HTTPError(.tooManyRequests, "too many requests in flight: limit \(limit)", headers: headers)
        case .requestsPerMinute(let limit)?:
            return HTTPError(.tooManyRequests, "rate limit reached: \(limit) \(limit == 1 ? "request" : "requests") per minute", headers: headers)
        case .tokensPerMinute(let limit)?:
            return HTTPError(.tooManyRequests, "rate limit reached: \(limit) \(limit == 1 ? "token" : "tokens") per minute", headers: headers)
        case nil:
            // The store refused on counters that changed between its decision and this reading.
            return HTTPError(.tooManyRequests, "rate limit reached", headers: headers)
        }
    }

    /// Seconds rounded up, at least 1. The seconds come from the store's clock, so they are
    /// held to two days before the conversion: a NaN or a date far off cannot trap it.
    static func wholeSeconds(_ seconds: Double) -> Int {
        max(1, bounded(seconds))
    }

    private static func bounded(_ seconds: Double) -> Int {
        guard seconds.isFinite else { return 0 }
        return Int(min(max(seconds, 0), 172_800).rounded(.up))
    }

    /// A duration as OpenAI writes it: `12s`, `1m0s`; `0s` when nothing is counted.
    static func duration(_ seconds: Double) -> String {
        let whole = bounded(seconds)
        guard whole > 0 else { return "0s" }
        return whole < 60 ? "\(whole)s" : "\(whole / 60)m\(whole % 60)s"
    }
}
