/// A conversation with its messages, as `ConversationStore.insertConversations` stores it: under
/// the id and owner it carries, which must be new.
public struct ImportedConversation: Sendable, Equatable {
    public var conversation: Conversation
    /// In sequence order, numbered 1, 2, 3, ... without gaps.
    public var messages: [StoredMessage]

    public init(conversation: Conversation, messages: [StoredMessage]) {
        self.conversation = conversation
        self.messages = messages
    }
}
