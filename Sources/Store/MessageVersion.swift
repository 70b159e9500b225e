import FoundationEssentials

/// An earlier version of a message: an answer that a regeneration replaced.
public struct MessageVersion: Sendable, Equatable {
    public var content: String
    public var model: String?
    public var usage: TokenUsage?
    /// When this version was written.
    public var createdAt: Date

    public init(content: String, model: String? = nil, usage: TokenUsage? = nil, createdAt: Date) {
        self.content = content
        self.model = model
        self.usage = usage
        self.createdAt = createdAt
    }
}

extension MessageVersion {
    /// The message as it was: its text, model, usage and date.
    public init(of message: StoredMessage) {
        self.init(content: message.content, model: message.model, usage: message.usage, createdAt: message.createdAt)
    }
}
