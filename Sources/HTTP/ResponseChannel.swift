/// Where a response goes that is written after its handler returned, from any thread.
///
/// A handler answers with `Response.Body.later` when the answer waits on something outside
/// askd (the model, a turn lock). The transport then hands it a channel and takes the next
/// request; no thread waits for the answer. Every call returns at once: what the connection
/// cannot take yet is buffered by the transport (up to a bound), and a client that stops reading
/// is dropped. The response ends exactly once, by `end`, `respond` or `fail`; later calls do nothing.
public protocol ResponseChannel: AnyObject, Sendable {
    /// The id askd gave the request, for logs and error bodies.
    var requestID: String { get }

    /// Sends the status and headers; the body follows with `write`, and `end` closes it.
    func begin(status: HTTPStatus, headers: HTTPHeaders)

    /// Sends part of the body (after `begin`).
    /// - Returns: `false` once the client is known to be gone; the caller should stop its work.
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool

    /// Ends a body that `begin` started.
    func end()

    /// Sends a whole response (its body must be bytes) and ends.
    func respond(_ response: Response)

    /// Ends with the response `Application` maps `error` to when nothing was sent yet; after
    /// `begin`, just ends (the body's own format must carry the error).
    func fail(_ error: any Error)

    /// Whether the head went out: from then on, errors belong to the body.
    var started: Bool { get }

    /// Whether the client is known to have left, found without writing (a stream waiting on a
    /// silent model asks now and then, so that it can stop the work early).
    var clientIsGone: Bool { get }

    /// Counts `seconds` as time this response spent waiting for the model: askd's overhead
    /// (the `askd_overhead_seconds` metric) leaves it out.
    func addUpstreamWait(_ seconds: Double)

    /// Whether the server can wait no longer for this response: it is stopping and its drain
    /// time has run out. A handler still streaming ends the response now, saying why.
    var mustEndNow: Bool { get }

    /// How many bytes written are still waiting for the client: a long body written piece by
    /// piece waits while this is high, so that it never piles up past the channel's bound.
    var pendingBytes: Int { get }
}

extension ResponseChannel {
    /// A channel that keeps nothing back has nothing waiting.
    public var pendingBytes: Int { 0 }
}

/// The client closed its connection before the response was complete.
public struct ClientDisconnected: Error, Sendable, Equatable {
    public init() {}
}
