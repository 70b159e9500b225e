/// One event of a `text/event-stream` body, as `ServerSentEventParser` dispatches it.
public struct ServerSentEvent: Sendable, Equatable {
    /// The `event:` field; nil for the default type, `message`.
    public var event: String?
    /// The `data:` lines joined by "\n".
    public var data: String
    /// The last `id:` seen on the stream so far; nil when none was (or an empty one reset it).
    public var id: String?

    public init(event: String? = nil, data: String, id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
    }
}
