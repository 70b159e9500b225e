import FoundationEssentials

/// A conversation as a list shows it: when it started and changed, how long it is, what it
/// was first asked and which model answered last.
public struct ConversationSummary: Sendable, Equatable {
    public var conversation: Conversation
    public var messageCount: Int
    /// The first prompt, from which a title is made; nil for a conversation without messages.
    public var firstPrompt: String?
    /// The model of the latest answer.
    public var lastModel: String?

    public init(conversation: Conversation, messageCount: Int, firstPrompt: String?, lastModel: String?) {
        self.conversation = conversation
        self.messageCount = messageCount
        self.firstPrompt = firstPrompt
        self.lastModel = lastModel
    }
}

/// Where a page of conversations ends: the next page starts after it. Conversations are listed
/// newest first by creation, then by id, so a page boundary stays put while new ones arrive.
public struct ConversationCursor: Sendable, Equatable {
    public var createdAt: Date
    public var id: String

    public init(createdAt: Date, id: String) {
        self.createdAt = createdAt
        self.id = id
    }
}

/// What a token's answers cost, as the upstream reported it: answers, prompt and completion tokens.
public struct UsageTotals: Sendable, Equatable {
    public var requests: Int
    public var promptTokens: Int
    public var completionTokens: Int

    public init(requests: Int = 0, promptTokens: Int = 0, completionTokens: Int = 0) {
        self.requests = requests
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
}
