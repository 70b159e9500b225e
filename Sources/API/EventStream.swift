#if canImport(Glibc)
import Glibc
#endif
import HTTP
import Upstream

/// A streamed `/ask` answer as Server-Sent Events, written to the client as it arrives:
///
///     data: {"delta":"Hel"}                    one per piece of text
///     event: done
///     data: {"response":{...}}                 the object a plain /ask returns
///     event: error
///     data: {"error":"..."}                    instead of `done`, if the answer failed midway
///     : keep-alive                             while the model is silent
///
/// Every event is flushed at once. Nothing is written before the first piece of text, so an
/// error until then still gets its own HTTP status.
final class EventStream: ChatStreamSink {
    private let writer: any BodyWriter
    private let keepAliveSeconds: Double
    private var lastWrite = EventStream.now()
    /// Whether anything went out; from then on, errors are events.
    private(set) var started = false
    /// What the model had produced when this stream gave the answer up.
    private(set) var abandonedAnswer: ChatResponse?

    init(writer: any BodyWriter, keepAliveSeconds: Double) {
        self.writer = writer
        self.keepAliveSeconds = keepAliveSeconds
    }

    func deliver(_ text: String) throws {
        try endIfTheServerCannotWait()
        try send(data: JSONValue.object(["delta": .string(text)]).serialized)
    }

    func abandoned(after partial: ChatResponse) {
        abandonedAnswer = partial
    }

    func idle() throws {
        if writer.clientIsGone { throw ClientDisconnected() }
        try endIfTheServerCannotWait()
        if Self.now() - lastWrite >= keepAliveSeconds { try write(Array(": keep-alive\n\n".utf8)) }
    }

    /// One event; `data` must be a single line (compact JSON is).
    func send(event: String? = nil, data: [UInt8]) throws {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(data.count + 32)
        if let event { bytes += Array("event: \(event)\n".utf8) }
        bytes += Array("data: ".utf8)
        bytes += data
        bytes += [0x0A, 0x0A]
        try write(bytes)
    }

    /// askd is stopping and its drain time has run out: the answer ends here (abandoned, as when
    /// a client leaves), and the client is told so, with the status it would have had.
    private func endIfTheServerCannotWait() throws {
        guard writer.mustEndNow else { return }
        throw HTTPError(
            .serviceUnavailable, "askd is restarting and could not wait for the rest of this answer; ask again",
            headers: ["Retry-After": "5"], logDetail: "the drain time ran out during a streamed answer: it was cut short"
        )
    }

    private func write(_ bytes: [UInt8]) throws {
        started = true
        try writer.write(bytes)
        lastWrite = Self.now()
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
