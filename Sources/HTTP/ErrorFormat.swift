import JSON

/// How the errors of a group of routes are written, for routes that speak another API's
/// dialect (askd's OpenAI-compatible `/v1/`). `Application` still decides what becomes an error
/// and logs it; a format only writes it. Registered on the `Router` by path prefix.
public protocol ErrorFormat: Sendable {
    /// The body of `error`'s response, and headers to add to the error's own.
    func body(of error: HTTPError, requestID: String) -> (body: [UInt8], headers: HTTPHeaders)

    /// The error for a request that no route matches.
    func noSuchEndpoint(method: String, path: String) -> HTTPError
}

/// askd's own: `{"error": "<sentence>", ...fields}`.
public struct AskdErrorFormat: ErrorFormat {
    public init() {}

    public func body(of error: HTTPError, requestID: String) -> (body: [UInt8], headers: HTTPHeaders) {
        (Array(JSONString.errorObject(error.message, fields: error.fields).utf8), [:])
    }

    public func noSuchEndpoint(method: String, path: String) -> HTTPError {
        .notFound("no such endpoint: \(method) \(path)")
    }
}
