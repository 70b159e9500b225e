/// What the request path tells askd's metrics: one call per answered request, and the streams
/// as they open and close.
///
/// Contract: every method is called on the thread that serves the request, many threads at
/// once, and must return quickly without blocking (no I/O, no lock held for long): it is on
/// every request's path.
public protocol RequestRecorder: Sendable {
    /// A request was answered.
    /// - Parameters:
    ///   - route: the route pattern that matched, such as `/conversation/{conversation_id}`, or
    ///     the empty string when none did. Never the raw path.
    ///   - method: the method as received.
    ///   - status: the status sent.
    ///   - seconds: from the request's first byte to its last byte sent.
    ///   - upstreamSeconds: the part of `seconds` spent waiting for the model.
    ///   - clientSeconds: the part of `seconds` spent waiting for the client to take the answer.
    func requestFinished(route: String, method: String, status: Int, seconds: Double, upstreamSeconds: Double, clientSeconds: Double)

    /// askd refused a request by one of its own limits (`HTTPError.refusedBy`).
    func refused(by limit: String)

    /// A streamed answer began.
    func streamOpened()

    /// A streamed answer ended, however it ended.
    func streamClosed()
}
