/// An HTTP response: status, headers and a body that is bytes, or a response written later
/// through a `ResponseChannel`.
public struct Response {
    public enum Body {
        case bytes([UInt8])
        /// The whole response, later, through the channel the transport passes to `start`,
        /// which sets the work going and returns at once (see `ResponseChannel`). This
        /// response's status and headers are not sent; the channel's are.
        case later(@Sendable (any ResponseChannel) -> Void)
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
