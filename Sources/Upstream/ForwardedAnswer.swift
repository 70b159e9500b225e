import JSON
import Store

/// The upstream's answer to a `ForwardedRequest`.
public struct ForwardedAnswer: Sendable {
    /// A plain answer's `chat.completion` as the upstream sent it; empty for a stream, whose
    /// chunks went to the sink.
    public var body: [UInt8]
    /// The top-level members of `body` that askd reads (`id`, `object`, `created`, `model`,
    /// `usage`, and `choices` when there is no usage), read; empty for a stream.
    public var fields: [String: JSONValue]
    /// What the upstream reported, or else an estimate (`TokenUsage.estimated`).
    public var usage: TokenUsage

    public init(body: [UInt8], fields: [String: JSONValue], usage: TokenUsage) {
        self.body = body
        self.fields = fields
        self.usage = usage
    }
}
