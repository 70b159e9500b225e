import CCurl
import Text

/// What one libcurl transfer to the upstream collects, touched by one thread at a time: the
/// worker running it, or the `TransferLoop`'s.
///
/// A plain answer is collected whole. When streaming, an answer that comes as Server-Sent
/// Events is parsed as it arrives and each event goes to the `StreamReader` at once; an error
/// answer (any status but 2xx), or an upstream that answers a stream request with plain JSON,
/// is still collected whole.
final class Transfer {
    let handle: UnsafeMutableRawPointer
    private let limit: Int
    /// Where a stream's events go; nil for a plain answer.
    let reader: (any StreamReader)?
    /// The body, unless it is being parsed as a stream.
    private(set) var body: [UInt8] = []
    private(set) var retryAfter: String?
    /// Why the transfer was abandoned from a callback: the reader threw, or the stream was bad.
    private(set) var failure: (any Error)?
    /// The whole answer, once read from a plain (not streamed) body.
    var answer: ChatResponse?
    private var parser: ServerSentEventParser?
    private var decided = false
    private var received = 0
    /// The longest the upstream may stay silent (no byte of header or body) in a stream.
    private let silenceLimit: Duration?
    private var lastHeard = ContinuousClock.now

    /// A stream whose upstream stays silent for longer than `silenceLimit` is abandoned as
    /// timed out, when the progress callback (`tick`) next comes.
    init(handle: UnsafeMutableRawPointer, limit: Int, reader: (any StreamReader)?, silenceLimit: Duration? = nil) {
        self.handle = handle
        self.limit = limit
        self.reader = reader
        self.silenceLimit = reader == nil ? nil : silenceLimit
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
            for event in events { try reader?.take(event) }
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
        guard let reader, failure == nil else { return failure == nil }
        if let silenceLimit, ContinuousClock.now - lastHeard > silenceLimit {
            failure = UpstreamError.timedOut(detail: "the upstream sent nothing for \(silenceLimit)")
            return false
        }
        do {
            try reader.idle()
            return true
        } catch {
            failure = error
            return false
        }
    }

    /// Ends a stream that closed: a last event without its blank line still counts.
    func finish() throws {
        guard parser != nil else { return }
        for event in parser!.finish() { try reader?.take(event) }
    }

    private func decideHowToRead() {
        decided = true
        guard reader != nil else { return }
        var status = 0
        askd_curl_get_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var contentType: UnsafeMutablePointer<CChar>?
        askd_curl_get_string(handle, CURLINFO_CONTENT_TYPE, &contentType)
        let type = contentType.map { String(cString: $0).lowercased() } ?? ""
        if (200..<300).contains(status) && type.hasPrefix("text/event-stream") {
            parser = ServerSentEventParser()
        }
    }
}
