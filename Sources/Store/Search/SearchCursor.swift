import FoundationEssentials

/// A place in a list of search hits, which every store sorts the same way: by `score`
/// ascending (the engine's relevance, scaled to an integer so that it compares exactly; lower
/// is more relevant), then newest first, then by conversation id and sequence number
/// descending (a title counts as sequence 0). A page starts after its cursor.
public struct SearchCursor: Sendable, Equatable {
    public var score: Int64
    public var createdAt: Date
    public var conversationID: String
    public var sequence: Int

    public init(score: Int64, createdAt: Date, conversationID: String, sequence: Int) {
        self.score = score
        self.createdAt = createdAt
        self.conversationID = conversationID
        self.sequence = sequence
    }

    /// Whether `hit` sorts after this cursor.
    public func precedes(_ hit: SearchCursor) -> Bool {
        if score != hit.score { return score < hit.score }
        if createdAt != hit.createdAt { return createdAt > hit.createdAt }
        if conversationID != hit.conversationID { return hit.conversationID.utf8.lexicographicallyPrecedes(conversationID.utf8) }
        return sequence > hit.sequence
    }
}
