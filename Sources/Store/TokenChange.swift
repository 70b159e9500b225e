import FoundationEssentials

/// A change to a token's settings (`askd token update`): each field nil leaves the setting
/// alone; `.some(nil)` removes it.
public struct TokenChange: Sendable, Equatable {
    public var name: String?
    public var expiresAt: Date??
    public var requestsPerMinute: Int??
    public var tokensPerMinute: Int??
    public var tokensPerDay: Int??
    public var maxParallel: Int??
    public var models: [String]??

    public init() {}

    /// `token` with this change made.
    public func applied(to token: TokenRecord) -> TokenRecord {
        var token = token
        if let name { token.name = name }
        if let expiresAt { token.expiresAt = expiresAt }
        if let requestsPerMinute { token.limits.requestsPerMinute = requestsPerMinute }
        if let tokensPerMinute { token.limits.tokensPerMinute = tokensPerMinute }
        if let tokensPerDay { token.limits.tokensPerDay = tokensPerDay }
        if let maxParallel { token.limits.maxParallel = maxParallel }
        if let models { token.limits.models = models }
        return token
    }
}
