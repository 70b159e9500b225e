import FoundationEssentials

/// A conversation, owned by the token that started it.
public struct Conversation: Sendable, Equatable {
    /// A UUID made by askd.
    public var id: String
    /// The `TokenRecord.id` of the owner.
    public var owner: String
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: String, owner: String, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.owner = owner
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
