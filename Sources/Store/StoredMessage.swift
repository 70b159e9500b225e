import FoundationEssentials

/// Who said a message.
public enum MessageRole: String, Sendable, Equatable, CaseIterable {
    case system
    case user
    case assistant
}

/// Token counts as the upstream reported them.
public struct TokenUsage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int

    public init(promptTokens: Int, completionTokens: Int, totalTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens
    }
}

/// One message of a conversation.
public struct StoredMessage: Sendable, Equatable {
    /// 1, 2, 3, ... within the conversation, with no gaps.
    public var sequence: Int
    public var role: MessageRole
    public var content: String
    /// The model that wrote an assistant message.
    public var model: String?
    public var usage: TokenUsage?
    public var createdAt: Date

    public init(sequence: Int, role: MessageRole, content: String, model: String? = nil, usage: TokenUsage? = nil, createdAt: Date) {
        self.sequence = sequence
        self.role = role
        self.content = content
        self.model = model
        self.usage = usage
        self.createdAt = createdAt
    }
}

extension StoredMessage {
    /// The bytes of text a message holds, as a page budget counts them: content and model, in UTF-8.
    public var textBytes: Int { content.utf8.count + (model?.utf8.count ?? 0) }

    /// The newest of `messages` (oldest first) within `limit` and `maxBytes`, as
    /// `ConversationStore.messages(conversationID:newest:before:maxBytes:)` returns them.
    public static func newest(of messages: ArraySlice<StoredMessage>, limit: Int, maxBytes: Int) -> ArraySlice<StoredMessage> {
        var start = messages.endIndex
        var bytes = 0
        while start > messages.startIndex, messages.endIndex - start < limit {
            bytes += messages[start - 1].textBytes
            guard bytes <= maxBytes || start == messages.endIndex else { break }
            start -= 1
        }
        return messages[start...]
    }
}
