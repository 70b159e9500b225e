import FoundationEssentials
import HTTP
import Store

/// Admission control of a token's limits: the one call every endpoint that asks the model
/// makes, after it has read and checked its input, and before it waits for anything.
///
/// A token's own limits, with askd's defaults (`ASKD_DEFAULT_*`) where it sets none, are
/// checked in this order: the model (403), then, through the store, which counts for every
/// process and host sharing it (`RateWindow`), the day's tokens, the requests in flight, the
/// requests and the tokens of the last minute (429). A token with no counted limit costs no
/// store access.
public struct TokenAdmission: Sendable {
    let store: any ConversationStore
    /// Applied where a token sets none.
    let defaults: TokenLimits
    /// The largest `max_tokens` askd sends when a request names none (`ASKD_MAX_TOKENS`).
    let maxTokens: Int
    let clock: @Sendable () -> Date
    /// Hands out a busy token's requests from reservations; without one, each request is
    /// admitted by the store alone.
    let broker: AllowanceBroker?

    public init(
        store: any ConversationStore, defaults: TokenLimits, maxTokens: Int, clock: @escaping @Sendable () -> Date = { Date() },
        broker: AllowanceBroker? = nil
    ) {
        self.store = store
        self.defaults = defaults
        self.maxTokens = maxTokens
        self.clock = clock
        self.broker = broker
    }

    /// The limits that apply to `token`.
    public func limits(of token: TokenRecord) -> TokenLimits {
        token.limits.filled(from: defaults)
    }

    /// Admits one request of `token` to `model`, asking for at most `maxTokens` (nil: the
    /// model's default), or refuses it with the `HTTPError` the client gets.
    ///
    /// The caller must end what it is given (`AdmittedRequest`): `finish` it, or commit its
    /// ticket with the turn, or answer through `channel(_:)`, which finishes it when the answer
    /// ends. Until then the request holds its parallel slot.
    /// - Returns: the admitted request, with `maxTokens` capped at what is left of the day's
    ///   tokens, and the `x-ratelimit-*` headers its answer carries.
    /// - Throws: `HTTPError` 403 for a model outside the token's list, 429 for a limit reached,
    ///   503 when the store is unavailable.
    public func admit(token: TokenRecord, model: String, maxTokens: Int?) throws -> AdmittedRequest {
        let limits = limits(of: token)
        try Self.checkModel(model, limits: limits)
        guard limits.isCounted else { return AdmittedRequest(store: store, maxTokens: maxTokens) }
        let now = clock()
        let grant: AllowanceBroker.Grant
        if let broker {
            grant = try broker.admit(tokenID: token.id, limits: limits, at: now)
        } else {
            let admission = try store.admit(tokenID: token.id, limits: limits, at: now)
            grant = AllowanceBroker.Grant(readings: admission.readings, ticket: admission.ticket, reservation: nil)
        }
        let admitted = grant.ticket != nil || grant.reservation != nil
        let state = RateWindow.state(limits, grant.readings, admitted: admitted, at: grant.readings.at)
        let headers = RateLimitHeaders.headers(for: state)
        guard admitted else { throw RateLimitHeaders.refusal(state, headers: headers) }
        var capped = maxTokens
        if let left = state.remainingTokensToday, left < (maxTokens ?? self.maxTokens) {
            capped = max(1, left)
        }
        let reservation = grant.reservation.flatMap { reservation in broker.map { (broker: $0, reservation: reservation) } }
        return AdmittedRequest(store: store, ticket: grant.ticket, reservation: reservation, headers: headers, maxTokens: capped)
    }

    /// `error`, thrown by the checks an endpoint makes before `admit`, with the token's
    /// `x-ratelimit-*` headers, read from the store, when it is an `HTTPError`: every answer of a
    /// token with a per-minute limit carries them.
    public func withHeaders(_ error: any Error, of token: TokenRecord) -> any Error {
        guard var error = error as? HTTPError, error.status != .tooManyRequests, limits(of: token).isWindowed,
            let state = try? state(of: token)
        else { return error }
        for (name, value) in RateLimitHeaders.headers(for: state) where !error.headers.contains(name) {
            error.headers.add(name: name, value: value)
        }
        return error
    }

    /// The token's limits and what is used of them now, for `GET /usage`.
    public func state(of token: TokenRecord) throws -> LimitState {
        let limits = limits(of: token)
        guard limits.isCounted else { return LimitState(limits: limits) }
        var readings = try store.limitReadings(tokenID: token.id, limits: limits, at: clock())
        if let broker { readings = broker.adjusted(readings, tokenID: token.id) }
        return RateWindow.state(limits, readings, admitted: false, at: readings.at)
    }

    /// Refuses a model outside the token's list, whether the request names it or a conversation kept it.
    public static func checkModel(_ model: String, limits: TokenLimits) throws {
        if let models = limits.models, !models.contains(model) { throw HTTPError.modelNotAllowedForToken }
    }
}

extension HTTPError {
    public static let modelNotAllowedForToken = HTTPError(.forbidden, "model not allowed for this token")
}
