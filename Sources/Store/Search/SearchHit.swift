import FoundationEssentials

/// One message, or one conversation's title, that a search matched.
public struct SearchHit: Sendable, Equatable {
    public var conversationID: String
    /// The conversation's own title, if it has one.
    public var title: String?
    /// The conversation's first prompt, from which a title is made when it has none.
    public var firstPrompt: String?
    /// The message's sequence number; nil for a hit on the title.
    public var sequence: Int?
    /// The message's role; nil for a hit on the title.
    public var role: MessageRole?
    /// A short piece of the text around the match, each match between `[` and `]`.
    public var snippet: String
    /// When the message was written, or the conversation started for a title hit.
    public var createdAt: Date
    /// Where it sorts: lower is more relevant (see `SearchCursor`).
    public var score: Int64

    public init(
        conversationID: String, title: String?, firstPrompt: String?, sequence: Int?, role: MessageRole?, snippet: String,
        createdAt: Date, score: Int64
    ) {
        self.conversationID = conversationID
        self.title = title
        self.firstPrompt = firstPrompt
        self.sequence = sequence
        self.role = role
        self.snippet = snippet
        self.createdAt = createdAt
        self.score = score
    }

    /// Where the next page starts after this hit.
    public var cursor: SearchCursor {
        SearchCursor(score: score, createdAt: createdAt, conversationID: conversationID, sequence: sequence ?? 0)
    }
}
