import FoundationEssentials

/// A share link: a read-only snapshot of one conversation, readable by anyone who has its id
/// until it expires or is revoked.
public struct Share: Sendable, Equatable {
    /// At least 128 random bits, base64url: the only secret a reader needs.
    public var id: String
    /// The `TokenRecord.id` of the token that shared it.
    public var owner: String
    public var conversationID: String
    public var createdAt: Date
    /// Nil: it never expires.
    public var expiresAt: Date?

    public init(id: String, owner: String, conversationID: String, createdAt: Date, expiresAt: Date?) {
        self.id = id
        self.owner = owner
        self.conversationID = conversationID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// What a share shows: the conversation's title and messages as they were when it was shared.
/// The messages carry role, content and date only: no model, usage, owner or settings.
public struct SharedConversation: Sendable, Equatable {
    /// The conversation's own title then; nil when it had none.
    public var title: String?
    /// When the share was made.
    public var sharedAt: Date
    public var messages: [StoredMessage]

    public init(title: String?, sharedAt: Date, messages: [StoredMessage]) {
        self.title = title
        self.sharedAt = sharedAt
        self.messages = messages
    }
}
