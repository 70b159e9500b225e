import FoundationEssentials

/// A new answer to a conversation's last prompt, which replaces its last answer
/// (`ConversationStore.replaceLastAnswer`).
public struct Regeneration: Sendable, Equatable {
    public var conversationID: String
    /// The `TokenRecord.id` of the caller.
    public var owner: String
    /// The sequence number of the answer replaced, which must still be the conversation's last message.
    public var sequence: Int
    public var answer: String
    public var model: String
    public var usage: TokenUsage?
    public var date: Date
    /// The turn lock the model was asked under, checked as `Turn.lock` is.
    public var lock: TurnLock?
    /// The ticket the request was admitted with, ended in the same transaction as `Turn.admission`.
    public var admission: AdmissionTicket?

    public init(
        conversationID: String, owner: String, sequence: Int, answer: String, model: String, usage: TokenUsage?, date: Date,
        lock: TurnLock? = nil, admission: AdmissionTicket? = nil
    ) {
        self.conversationID = conversationID
        self.owner = owner
        self.sequence = sequence
        self.answer = answer
        self.model = model
        self.usage = usage
        self.date = date
        self.lock = lock
        self.admission = admission
    }
}
