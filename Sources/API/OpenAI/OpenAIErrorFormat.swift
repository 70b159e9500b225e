import HTTP
import JSON

/// Errors as OpenAI writes them, for `/v1/`: `{"error": {"message", "type", "param", "code"}}`,
/// with `param` and `code` JSON null when there is none, so that OpenAI's SDKs raise their own
/// error classes. An `HTTPError` may name its `type`, `param` and `code` in its fields; otherwise
/// they follow from its status, as OpenAI's do.
public struct OpenAIErrorFormat: ErrorFormat {
    public init() {}

    public func body(of error: HTTPError, requestID: String) -> (body: [UInt8], headers: HTTPHeaders) {
        (JSONValue.object(["error": Self.object(of: error, requestID: requestID)]).serialized, [:])
    }

    public func noSuchEndpoint(method: String, path: String) -> HTTPError {
        HTTPError(
            .notFound,
            "askd does not serve \(method) \(path); its OpenAI-compatible endpoints are POST /v1/chat/completions, GET /v1/models and GET /v1/models/{model}",
            fields: ["code": "unknown_url"]
        )
    }

    /// The error object itself, as a stream's `data:` event also carries it.
    static func object(of error: HTTPError, requestID: String) -> JSONValue {
        let (type, code) = kind(of: error)
        var message = error.message
        if error.status == .internalServerError, let id = error.fields["request_id"] { message += " (request id \(id))" }
        return .object([
            "message": .string(message),
            "type": .string(error.fields["type"] ?? type),
            "param": error.fields["param"].map(JSONValue.string) ?? .null,
            "code": (error.fields["code"] ?? code).map(JSONValue.string) ?? .null,
        ])
    }

    /// OpenAI's `type` and `code` for an error's status.
    private static func kind(of error: HTTPError) -> (type: String, code: String?) {
        switch error.status.code {
        case 401: ("invalid_request_error", "invalid_api_key")
        case 403: ("invalid_request_error", "permission_denied")
        case 405: ("invalid_request_error", "method_not_allowed")
        case 413: ("invalid_request_error", "request_too_large")
        case 429 where error.headers["x-should-retry"] == "false": ("insufficient_quota", "insufficient_quota")
        case 429: (error.message.contains("tokens") ? "tokens" : "requests", "rate_limit_exceeded")
        case 400..<500: ("invalid_request_error", nil)
        case 502: ("server_error", "upstream_error")
        case 503: ("server_error", "service_unavailable")
        case 504: ("server_error", "upstream_timeout")
        default: ("server_error", nil)
        }
    }
}
