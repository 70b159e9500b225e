import CCurl
import FoundationEssentials
import Text

/// What one libcurl transfer to the upstream collects, touched by one thread at a time: the
/// worker running it, or the `TransferLoop`'s.
///
/// A plain answer is collected whole. When streaming, an answer that comes as Server-Sent
/// Events is parsed as it arrives and each piece of text goes to the sink at once; an error
/// answer (any status but 2xx), or an upstream that answers a stream request with plain JSON,
/// is still collected whole.
final class Transfer {
    let handle: UnsafeMutableRawPointer
    private let limit: Int
    let sink: (any ChatStreamSink)?
    /// The body, unless it is being parsed as a stream.
    private(set) var body: [UInt8] = []
    private(set) var retryAfter: String?
    /// Why the transfer was abandoned from a callback: the sink threw, or the stream was bad.
    private(set) var failure: (any Error)?
    private(set) var accumulator = ChatStreamAccumulator()
    /// Whether any text reached the sink; after that, nothing may be retried.
    private(set) var delivered = false
    /// The whole answer, once read from a plain (not streamed) body.
    var answer: ChatResponse?
    /// Whether the stream's `[DONE]` arrived.
    private(set) var sawDone = false
    private var parser: ServerSentEventParser?
    private var decided = false
    private var received = 0
    /// For stream chunks only: a plain answer never makes one.
    private lazy var decoder = JSONDecoder()
    /// The longest the upstream may stay silent (no byte of header or body) in a stream.
    private let silenceLimit: Duration?
    private var lastHeard = ContinuousClock.now

    /// A stream whose upstream stays silent for longer than `silenceLimit` is abandoned as
    /// timed out, when the progress callback (`tick`) next comes.
    init(handle: UnsafeMutableRawPointer, limit: Int, sink: (any ChatStreamSink)?, silenceLimit: Duration? = nil) {
        self.handle = handle
        self.limit = limit
        self.sink = sink
        self.silenceLimit = sink == nil ? nil : silenceLimit
    }

    /// Whether the answer was parsed as a stream.
    var streamed: Bool { parser != nil }

    /// Takes body bytes from libcurl; false abandons the transfer.
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if silenceLimit != nil { lastHeard = .now }
        received += bytes.count
        guard received <= limit else {
            failure = UpstreamError.failed(detail: "the answer is larger than \(limit) bytes")
            return false
        }
        if !decided { decideHowToRead() }
        guard parser != nil else {
            body.append(contentsOf: bytes)
            return true
        }
        let events: [ServerSentEvent]
        do {
            events = try parser!.feed(bytes)
        } catch {
            // The upstream's stream is beyond reading: its failure, not askd's.
            failure = UpstreamError.failed(detail: "unreadable event stream: \(error)")
            return false
        }
        do {
            for event in events { try take(event) }
            return true
        } catch {
            failure = error
            return false
        }
    }

    /// Takes a header line from libcurl.
    func receiveHeader(_ line: String) {
        if silenceLimit != nil { lastHeard = .now }
        if line.lowercased().hasPrefix("retry-after:") {
            retryAfter = String(line.dropFirst("retry-after:".count)).trimmingWhitespace()
        }
    }

    /// libcurl's progress call, about once a second at the least; false abandons the transfer.
    func tick() -> Bool {
        guard let sink, failure == nil else { return failure == nil }
        if let silenceLimit, ContinuousClock.now - lastHeard > silenceLimit {
            failure = UpstreamError.timedOut(detail: "the upstream sent nothing for \(silenceLimit)")
            return false
        }
        do {
            try sink.idle()
            return true
        } catch {
            failure = error
            return false
        }
    }

    /// Ends a stream that closed: a last event without its blank line still counts.
    func finish() throws {
        guard parser != nil else { return }
        for event in parser!.finish() { try take(event) }
    }

    private func decideHowToRead() {
        decided = true
        guard sink != nil else { return }
        var status = 0
        askd_curl_get_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var contentType: UnsafeMutablePointer<CChar>?
        askd_curl_get_string(handle, CURLINFO_CONTENT_TYPE, &contentType)
        let type = contentType.map { String(cString: $0).lowercased() } ?? ""
        if (200..<300).contains(status) && type.hasPrefix("text/event-stream") {
            parser = ServerSentEventParser()
        }
    }

    private func take(_ event: ServerSentEvent) throws {
        if ChatCompletionChunk.isDone(event.data) { sawDone = true }
        guard let chunk = try ChatCompletionChunk.decode(event.data, with: decoder) else { return }
        if let text = accumulator.add(chunk) {
            delivered = true
            try sink?.deliver(text)
        }
    }
}
