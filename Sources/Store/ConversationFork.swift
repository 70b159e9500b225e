import FoundationEssentials

/// A new conversation that starts as a copy of another one's first messages
/// (`ConversationStore.forkConversation`).
public struct ConversationFork: Sendable, Equatable {
    /// The conversation copied from.
    public var conversationID: String
    /// The `TokenRecord.id` of the caller, who must own the conversation copied from and owns the copy.
    public var owner: String
    /// The sequence number of the last message copied.
    public var through: Int
    /// The new conversation's id.
    public var newID: String
    /// The new conversation's title; nil keeps the original's.
    public var title: String?
    /// When the new conversation is created.
    public var date: Date

    public init(conversationID: String, owner: String, through: Int, newID: String, title: String?, date: Date) {
        self.conversationID = conversationID
        self.owner = owner
        self.through = through
        self.newID = newID
        self.title = title
        self.date = date
    }
}
