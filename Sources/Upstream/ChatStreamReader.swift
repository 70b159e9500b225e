import FoundationEssentials

/// Reads a streamed answer for `ChatCompletions.ask`: each chunk's text goes to the sink, and
/// the chunks add up to the whole answer.
final class ChatStreamReader: StreamReader, @unchecked Sendable {
    let sink: any ChatStreamSink
    private(set) var accumulator = ChatStreamAccumulator()
    /// Whether the stream's `[DONE]` arrived.
    private(set) var sawDone = false
    /// Made on the first chunk: a plain answer never needs one.
    private lazy var decoder = JSONDecoder()

    init(sink: any ChatStreamSink) {
        self.sink = sink
    }

    func take(_ event: ServerSentEvent) throws {
        if ChatCompletionChunk.isDone(event.data) { sawDone = true }
        guard let chunk = try ChatCompletionChunk.decode(event.data, with: decoder) else { return }
        if let text = accumulator.add(chunk) { try sink.deliver(text) }
    }

    func idle() throws {
        try sink.idle()
    }
}
