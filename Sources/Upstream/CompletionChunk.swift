import JSON
import Store

/// One `data:` event of a streamed Chat Completions answer, passed on as the upstream sent it.
public struct CompletionChunk: Sendable {
    /// The event's JSON object, byte for byte.
    public var bytes: [UInt8]
    /// The same, read.
    public var fields: [String: JSONValue]

    public init(bytes: [UInt8], fields: [String: JSONValue]) {
        self.bytes = bytes
        self.fields = fields
    }
}

/// Where the chunks of a forwarded stream go, one by one, from the thread the answer arrives
/// on; neither method may block. The `[DONE]` sentinel is not passed on: the call's completion
/// says that the stream ended well.
public protocol CompletionChunkSink: Sendable {
    /// Takes the next chunk. Throwing (its client left) abandons the answer and cuts the upstream.
    func deliver(_ chunk: CompletionChunk) throws

    /// Called about once a second while the upstream is silent, so the sink can notice a
    /// client that left, or keep an idle connection alive. Throwing abandons the answer.
    func idle() throws

    /// Told, once, what the model had used when the sink abandoned the answer by throwing: the
    /// usage it reported, or else an estimate. The model was paid for it.
    func abandoned(usage: TokenUsage)
}
