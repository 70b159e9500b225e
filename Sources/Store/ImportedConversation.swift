/// A conversation with its messages, as `ConversationStore.insertConversations` stores it: under
/// the id and owner it carries, which must be new.
public struct ImportedConversation: Sendable, Equatable {
    public var conversation: Conversation
    /// In sequence order, numbered 1, 2, 3, ... without gaps.
    public var messages: [StoredMessage]
    /// The previous versions of messages, by sequence number, oldest first.
    public var versions: [Int: [MessageVersion]]

    public init(conversation: Conversation, messages: [StoredMessage], versions: [Int: [MessageVersion]] = [:]) {
        self.conversation = conversation
        self.messages = messages
        self.versions = versions
    }
}
