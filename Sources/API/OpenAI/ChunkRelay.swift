#if canImport(Glibc)
import Glibc
#endif
import HTTP
import JSON
import Store
import Upstream

/// A forwarded stream on its way to the client, as OpenAI sends one:
///
///     data: {"id":"chatcmpl-...","object":"chat.completion.chunk","created":...,"model":...,"choices":[...]}
///     data: {... "choices":[],"usage":{...}}     only if the client asked (stream_options.include_usage)
///     data: [DONE]
///     data: {"error":{...}}                      instead of [DONE], if the answer failed midway
///     : keep-alive                               while the model is silent
///
/// Each chunk goes on as the upstream wrote it, except that every chunk gets the same `id`,
/// `object`, `created` and `model` (`CompletionHead`); askd always asks for the usage, so a
/// client that did not gets none (not even `"usage": null`), and usage that came in a chunk with
/// choices comes on in a chunk of its own with `choices: []`. Nothing is written before the first
/// chunk, so an error until then still gets its HTTP status. Used by one thread at a time: the
/// upstream's while the answer comes, then the one that delivers its end.
final class ChunkRelay: CompletionChunkSink, @unchecked Sendable {
    private let channel: any ResponseChannel
    private let includeUsage: Bool
    private let model: String
    private let headers: HTTPHeaders
    private let keepAliveSeconds: Double
    private var head: CompletionHead?
    private var lastWrite = ChunkRelay.now()
    /// The usage of an answer this relay gave up (its client left).
    private(set) var abandonedUsage: TokenUsage?

    static let streamHeaders: HTTPHeaders = ["Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"]

    init(channel: any ResponseChannel, includeUsage: Bool, model: String, headers: HTTPHeaders, keepAliveSeconds: Double) {
        self.channel = channel
        self.includeUsage = includeUsage
        self.model = model
        self.headers = headers
        self.keepAliveSeconds = keepAliveSeconds
    }

    func deliver(_ chunk: CompletionChunk) throws {
        let head = head ?? CompletionHead(of: chunk.fields, object: "chat.completion.chunk", requestID: channel.requestID, model: model)
        self.head = head
        var edits = head.corrections(to: chunk.fields)
        if chunk.fields["choices"]?.array == nil { edits.append(("choices", .array([]))) }
        let choices = chunk.fields["choices"]?.array ?? []
        guard let usage = chunk.fields["usage"], usage != .null else {
            // `"usage": null`, which OpenAI sends only to those who asked for the usage.
            let strip = chunk.fields["usage"] != nil && !includeUsage
            try send(edits.isEmpty && !strip ? chunk.bytes : edited(chunk.bytes, edits, usage: strip ? .remove : .keep))
            return
        }
        if choices.isEmpty {
            guard includeUsage else { return }
            try send(edits.isEmpty ? chunk.bytes : edited(chunk.bytes, edits, usage: .keep))
            return
        }
        // Choices and usage in one chunk: the usage comes on in a chunk of its own.
        try send(edited(chunk.bytes, edits, usage: includeUsage ? .null : .remove))
        if includeUsage { try send(JSONValue.object(usageChunk(head, usage)).serialized) }
    }

    func idle() throws {
        if channel.clientIsGone { throw ClientDisconnected() }
        if Self.now() - lastWrite >= keepAliveSeconds { try write(Array(": keep-alive\n\n".utf8)) }
    }

    func abandoned(usage: TokenUsage) {
        abandonedUsage = usage
    }

    /// Ends a stream that the upstream finished well.
    func finish() {
        try? write(Array("data: [DONE]\n\n".utf8))
        channel.end()
    }

    /// Ends a stream that failed after it began: the error object as a last event.
    func fail(_ error: HTTPError) {
        try? send(JSONValue.object(["error": OpenAIErrorFormat.object(of: error, requestID: channel.requestID)]).serialized)
        channel.end()
    }

    private func usageChunk(_ head: CompletionHead, _ usage: JSONValue) -> [String: JSONValue] {
        [
            "id": .string(head.id), "object": .string(head.object), "created": .integer(head.created), "model": .string(head.model),
            "choices": .array([]), "usage": usage,
        ]
    }

    private enum UsageEdit { case keep, null, remove }

    /// `bytes` with the head's corrections, and its usage kept, made null or removed.
    private func edited(_ bytes: [UInt8], _ edits: [(String, JSONValue)], usage: UsageEdit) -> [UInt8] {
        guard var members = JSONMembers(bytes) else { return bytes }
        for (name, value) in edits { members.set(name, raw: value.serialized) }
        switch usage {
        case .keep: break
        case .null: members.set("usage", raw: Array("null".utf8))
        case .remove: members.remove("usage")
        }
        return members.serialized
    }

    /// One `data:` event; a chunk the upstream wrote over several lines goes out as several `data:` lines.
    private func send(_ json: [UInt8]) throws {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(json.count + 16)
        for line in json.split(separator: 0x0A, omittingEmptySubsequences: false) {
            bytes += Array("data: ".utf8)
            bytes += line.last == 0x0D ? line.dropLast() : line
            bytes.append(0x0A)
        }
        bytes.append(0x0A)
        try write(bytes)
    }

    private func write(_ bytes: [UInt8]) throws {
        if !channel.started {
            var all = Self.streamHeaders
            for (name, value) in headers { all.replaceOrAdd(name: name, value: value) }
            channel.begin(status: .ok, headers: all)
        }
        guard channel.write(bytes) else { throw ClientDisconnected() }
        lastWrite = Self.now()
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
