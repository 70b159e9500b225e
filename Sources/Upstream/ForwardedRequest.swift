import JSON

/// A Chat Completions request passed on as its client wrote it, for askd's OpenAI-compatible
/// endpoint: the upstream gets `body` byte for byte.
public struct ForwardedRequest: Sendable {
    /// The JSON object sent to the upstream.
    public var body: [UInt8]
    /// The members of `body`, read: for the echo provider, and for estimating usage.
    public var fields: [String: JSONValue]

    public init(body: [UInt8], fields: [String: JSONValue]) {
        self.body = body
        self.fields = fields
    }

    public var model: String { fields["model"]?.string ?? "" }

    /// Whether the answer is asked for as Server-Sent Events (`"stream": true`).
    public var stream: Bool { fields["stream"] == .bool(true) }

    /// Whether a stream's last chunk is to carry the usage (`stream_options.include_usage`).
    public var includeUsage: Bool { fields["stream_options"]?["include_usage"] == .bool(true) }
}
