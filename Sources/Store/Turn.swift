#if canImport(Glibc)
import Glibc
#endif
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
    /// The settings a conversation starts with; ignored by a turn that continues one.
    public var settings: ConversationSettings
    /// The turn lock the turn ran under, if any: a store that keeps locks as leases stores the
    /// turn only while the lease is still this lock's, so that a turn whose lease another
    /// holder took over (after its renewals failed for the whole lease) is never stored beside
    /// that holder's.
    public var lock: TurnLock?
    /// The ticket the turn's request was admitted with, if its token has counted limits: the
    /// commit frees its slot and counts the turn's tokens in the same transaction.
    public var admission: AdmissionTicket?

    public init(
        conversationID: String, owner: String, startsConversation: Bool, prompt: String, answer: String,
        model: String, usage: TokenUsage?, date: Date, settings: ConversationSettings = ConversationSettings(), lock: TurnLock? = nil,
        admission: AdmissionTicket? = nil
    ) {
        self.admission = admission
        self.settings = settings
        self.lock = lock
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

extension Date {
    /// The UTC day, `YYYY-MM-DD`, on which usage is counted.
    public var usageDay: String {
        var time = time_t(timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(parts.tm_year + 1900, 4) + "-" + pad(parts.tm_mon + 1, 2) + "-" + pad(parts.tm_mday, 2)
    }
}
