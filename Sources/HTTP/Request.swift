/// A transport-free HTTP request, as the handlers see it.
public struct Request: Sendable {
    /// The method as received, for example `GET`.
    public var method: String
    /// The path as received, still percent-encoded, without the query.
    public var path: String
    /// The raw query string, without the `?`; empty when there is none.
    public var query: String
    public var headers: HTTPHeaders
    /// The client's address as the web server saw it; empty when unknown.
    public var remoteAddress: String
    public var body: [UInt8]
    /// For a path whose body is streamed (`ServerOptions.streamedBodyPrefixes`), the body as it
    /// arrives; `body` is then empty. Read it on the handler's thread, before the handler returns.
    public var bodySource: (any RequestBodySource)?
    /// The request id: the client's `X-Request-Id` when sane, otherwise a new one.
    public var id: String
    /// Values captured by the route's `{name}` segments, percent-decoded.
    public var parameters: [String: String]
    /// The pattern of the route that matched, such as `/conversation/{conversation_id}`; empty
    /// when none did. Metrics label requests by it, never by the raw path.
    public var route: String = ""

    public init(
        method: String,
        path: String,
        query: String = "",
        headers: HTTPHeaders = [:],
        remoteAddress: String = "",
        body: [UInt8] = [],
        id: String = "",
        parameters: [String: String] = [:]
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.remoteAddress = remoteAddress
        self.body = body
        self.id = id
        self.parameters = parameters
    }
}
