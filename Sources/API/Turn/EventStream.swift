import HTTP
import Platform
import JSON
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
/// Nothing is written before the first piece of text, so an error until then still gets its
/// own HTTP status. Used by one thread at a time: the upstream's while the answer comes, then
/// the one that delivers its end.
final class EventStream: ChatStreamSink, @unchecked Sendable {
    private let channel: any ResponseChannel
    private let keepAliveSeconds: Double
    private var lastWrite = MonotonicClock.now()
    /// What the model had produced when this stream gave the answer up.
    private(set) var abandonedAnswer: ChatResponse?

    static let headers: HTTPHeaders = ["Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"]

    init(channel: any ResponseChannel, keepAliveSeconds: Double) {
        self.channel = channel
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
        if channel.clientIsGone { throw ClientDisconnected() }
        try endIfTheServerCannotWait()
        if MonotonicClock.now() - lastWrite >= keepAliveSeconds { try write(Array(": keep-alive\n\n".utf8)) }
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
        guard channel.mustEndNow else { return }
        throw HTTPError(
            .serviceUnavailable, "askd is restarting and could not wait for the rest of this answer; ask again",
            headers: ["Retry-After": "5"], logDetail: "the drain time ran out during a streamed answer: it was cut short"
        )
    }

    private func write(_ bytes: [UInt8]) throws {
        if !channel.started { channel.begin(status: .ok, headers: Self.headers) }
        guard channel.write(bytes) else { throw ClientDisconnected() }
        lastWrite = MonotonicClock.now()
    }
}
