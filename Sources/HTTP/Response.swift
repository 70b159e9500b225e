/// An HTTP response: status, headers and a body that is either bytes or a stream, or a
/// response that comes later.
public struct Response {
    public enum Body {
        case bytes([UInt8])
        /// Produced chunk by chunk on the worker that owns the request.
        case stream((any BodyWriter) throws -> Void)
        /// The whole response, later: see `DeferredResponse`. This response's status and
        /// headers are not sent; the deferred one's are.
        case deferred(DeferredResponse)
    }

    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: Body

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = [:], body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response whose body is already-encoded JSON.
    public static func json(_ status: HTTPStatus = .ok, _ body: [UInt8], headers: HTTPHeaders = [:]) -> Response {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        return Response(status: status, headers: headers, body: .bytes(body))
    }
}

/// A response that waits for something outside askd, the model, without holding a worker
/// thread while it waits.
///
/// The transport calls `start` once, on the worker that read the request, and gives it `resume`.
/// `start` sets the wait going and returns at once. When the wait is over, on whatever thread,
/// the waiting side calls `resume` exactly once with `finish`, the rest of the work. The
/// transport then runs `finish` on a worker, where it may block (on the store, say), and sends
/// the response it returns (bytes) or the error it throws, mapped by `Application`.
public struct DeferredResponse: Sendable {
    public typealias Finish = @Sendable () throws -> Response
    public typealias Resume = @Sendable (@escaping Finish) -> Void

    public let start: @Sendable (@escaping Resume) -> Void

    public init(start: @escaping @Sendable (@escaping Resume) -> Void) {
        self.start = start
    }
}
