import HTTP

extension Request {
    /// A request with defaults for everything a test does not care about.
    static func mock(
        _ method: String = "GET",
        _ path: String = "/",
        query: String = "",
        headers: HTTPHeaders = [:],
        body: [UInt8] = []
    ) -> Request {
        Request(method: method, path: path, query: query, headers: headers, remoteAddress: "127.0.0.1", body: body)
    }
}

extension Response {
    var bodyText: String {
        guard case .bytes(let bytes) = body else { return "<stream>" }
        return String(decoding: bytes, as: UTF8.self)
    }
}
