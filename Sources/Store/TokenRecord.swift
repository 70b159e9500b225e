import FoundationEssentials

/// An access token as stored: never the token itself, only a hash of it.
public struct TokenRecord: Sendable, Equatable {
    /// A public identifier, safe to show and log.
    public var id: String
    public var name: String
    /// Lower-case hex SHA-256 of the token.
    public var hash: String
    public var createdAt: Date
    public var lastUsedAt: Date?
    public var expiresAt: Date?
    public var revokedAt: Date?
    /// The token's own limits; where one is not set, askd's defaults apply.
    public var limits: TokenLimits

    public init(
        id: String, name: String, hash: String, createdAt: Date,
        lastUsedAt: Date? = nil, expiresAt: Date? = nil, revokedAt: Date? = nil, limits: TokenLimits = TokenLimits()
    ) {
        self.limits = limits
        self.id = id
        self.name = name
        self.hash = hash
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    /// Whether the token may be used at `date`: not revoked and not expired.
    public func isValid(at date: Date) -> Bool {
        revokedAt == nil && (expiresAt.map { date < $0 } ?? true)
    }
}
