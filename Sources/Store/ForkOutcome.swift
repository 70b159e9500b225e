/// What `ConversationStore.forkConversation` did.
public enum ForkOutcome: Sendable, Equatable {
    /// The new conversation, as stored.
    case forked(Conversation)
    /// The conversation to copy does not exist, or is another owner's: nothing was stored.
    case conversationNotFound
    /// The conversation has no message with the sequence number asked for: nothing was stored.
    case messageNotFound
}
