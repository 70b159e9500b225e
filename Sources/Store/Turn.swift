import FoundationEssentials

/// One completed exchange, stored as a unit: the user's prompt and the assistant's answer.
public struct Turn: Sendable, Equatable {
    public var conversationID: String
    /// The `TokenRecord.id` of the caller.
    public var owner: String
    /// Whether this turn starts the conversation, which is then created with it.
    public var startsConversation: Bool
    public var prompt: String
    public var answer: String
    public var model: String
    public var usage: TokenUsage?
    public var date: Date

    public init(
        conversationID: String, owner: String, startsConversation: Bool, prompt: String, answer: String,
        model: String, usage: TokenUsage?, date: Date
    ) {
        self.conversationID = conversationID
        self.owner = owner
        self.startsConversation = startsConversation
        self.prompt = prompt
        self.answer = answer
        self.model = model
        self.usage = usage
        self.date = date
    }
}
