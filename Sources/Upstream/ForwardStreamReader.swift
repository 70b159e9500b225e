import JSON
import Store

/// Reads a forwarded stream: each chunk goes to the sink as the upstream sent it, and the
/// reader notes what accounting needs (the usage, whether the answer finished, how much of it
/// came). An error object in the stream ends it as the upstream's failure.
final class ForwardStreamReader: StreamReader, @unchecked Sendable {
    let sink: any CompletionChunkSink
    /// Whether the stream's `[DONE]` arrived.
    private(set) var sawDone = false
    /// Whether a choice gave its finish reason.
    private(set) var finished = false
    private(set) var usage: TokenUsage?
    /// The characters of text and tool-call arguments so far, for an estimate of the usage.
    private(set) var answerCharacters = 0

    init(sink: any CompletionChunkSink) {
        self.sink = sink
    }

    func take(_ event: ServerSentEvent) throws {
        if ChatCompletionChunk.isDone(event.data) {
            sawDone = true
            return
        }
        let bytes = Array(event.data.utf8)
        guard !bytes.isEmpty else { return }
        guard let fields = (try? JSONParser.parse(bytes, maxDepth: 64))?.object else {
            throw UpstreamError.failed(detail: "unreadable stream chunk: \(event.data.prefix(200))")
        }
        if fields["error"] != nil {
            throw UpstreamError.failed(detail: "the upstream sent an error: \(OpenAIClient.errorText(of: bytes))")
        }
        note(fields)
        try sink.deliver(CompletionChunk(bytes: bytes, fields: fields))
    }

    func idle() throws {
        try sink.idle()
    }

    /// Passes on a whole `chat.completion` as the chunks a stream of it would have had, for an
    /// upstream that answered a stream request with plain JSON.
    func replay(_ completion: [String: JSONValue]) throws {
        for fields in CompletionChunks.chunks(of: completion) {
            note(fields)
            try sink.deliver(CompletionChunk(bytes: JSONValue.object(fields).serialized, fields: fields))
        }
        sawDone = true
    }

    private func note(_ fields: [String: JSONValue]) {
        if let reported = TokenUsage.reported(in: fields["usage"]) { usage = reported }
        for choice in fields["choices"]?.array ?? [] {
            if let reason = choice["finish_reason"], reason != .null { finished = true }
            let delta = choice["delta"]
            answerCharacters += delta?["content"]?.string?.unicodeScalars.count ?? 0
            answerCharacters += delta?["refusal"]?.string?.unicodeScalars.count ?? 0
            for call in delta?["tool_calls"]?.array ?? [] {
                answerCharacters += call["function"]?["arguments"]?.string?.unicodeScalars.count ?? 0
                answerCharacters += call["function"]?["name"]?.string?.unicodeScalars.count ?? 0
            }
        }
    }
}
