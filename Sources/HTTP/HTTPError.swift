/// An error that is meant for the client: a status and a human sentence.
///
/// It becomes `{"error": message, ...fields}` with `status`; see `Application`.
public struct HTTPError: Error, Sendable, Equatable {
    public var status: HTTPStatus
    public var message: String
    /// Extra string members of the JSON body, after `error`.
    public var fields: [String: String]
    public var headers: HTTPHeaders
    /// What the operator should know about the cause, which the client must not see; `Application`
    /// logs it with the request id.
    public var logDetail: String?
    /// The limit of askd's own that refused the request (`rpm`, `in_flight`, ...), which the
    /// metrics count (`askd_rate_limited_total`); nil for every other error.
    public var refusedBy: String?

    public init(
        _ status: HTTPStatus, _ message: String, fields: [String: String] = [:], headers: HTTPHeaders = [:], logDetail: String? = nil
    ) {
        self.status = status
        self.message = message
        self.fields = fields
        self.headers = headers
        self.logDetail = logDetail
    }

    public static func notFound(_ message: String = "not found") -> HTTPError {
        HTTPError(.notFound, message)
    }

    public static func badRequest(_ message: String) -> HTTPError {
        HTTPError(.badRequest, message)
    }

    public static func methodNotAllowed(allow: [String]) -> HTTPError {
        HTTPError(
            .methodNotAllowed,
            "method not allowed; this resource allows \(allow.joined(separator: ", "))",
            headers: ["Allow": allow.joined(separator: ", ")]
        )
    }

    /// The opaque 500 of an unexpected error: the client gets the request id and nothing else;
    /// the details go to the log, under the same id.
    public static func opaque(requestID: String) -> HTTPError {
        HTTPError(.internalServerError, "internal error", fields: ["request_id": requestID])
    }

    /// askd holds as many requests as `ServerOptions.maxInFlight` allows.
    public static let serverBusy: HTTPError = {
        var error = HTTPError(.serviceUnavailable, "server busy", headers: ["Retry-After": "1"])
        error.refusedBy = "in_flight"
        return error
    }()

    public static func contentTooLarge(limit: Int) -> HTTPError {
        HTTPError(.contentTooLarge, "request body is larger than the limit of \(limit) bytes")
    }
}
