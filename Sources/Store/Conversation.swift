import FoundationEssentials

/// A conversation, owned by the token that started it.
public struct Conversation: Sendable, Equatable {
    /// A UUID made by askd.
    public var id: String
    /// The `TokenRecord.id` of the owner.
    public var owner: String
    public var createdAt: Date
    public var updatedAt: Date
    /// What the caller chose for this conversation; nil where it chose nothing.
    public var settings: ConversationSettings

    public init(id: String, owner: String, createdAt: Date, updatedAt: Date, settings: ConversationSettings = ConversationSettings()) {
        self.id = id
        self.owner = owner
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.settings = settings
    }
}

/// A conversation's own title, system prompt and model, kept with it for every later turn.
public struct ConversationSettings: Sendable, Equatable {
    public var title: String?
    public var system: String?
    public var model: String?

    public init(title: String? = nil, system: String? = nil, model: String? = nil) {
        self.title = title
        self.system = system
        self.model = model
    }
}

/// A change to some of a conversation's settings: for each, nil leaves it, `.some(nil)` clears it.
public struct ConversationSettingsChange: Sendable, Equatable {
    public var title: String??
    public var system: String??
    public var model: String??

    public init(title: String?? = nil, system: String?? = nil, model: String?? = nil) {
        self.title = title
        self.system = system
        self.model = model
    }

    /// `settings` with this change made.
    public func applied(to settings: ConversationSettings) -> ConversationSettings {
        var changed = settings
        if let title { changed.title = title }
        if let system { changed.system = system }
        if let model { changed.model = model }
        return changed
    }
}
