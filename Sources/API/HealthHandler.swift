import HTTP

/// `GET /healthz`: whether askd can serve.
public struct HealthHandler: Sendable {
    private static let body = Array(#"{"status":"ok"}"#.utf8)

    public init() {}

    public func handle(_ request: Request) throws -> Response {
        var response = Response.json(.ok, Self.body)
        response.headers.add(name: "Cache-Control", value: "no-store")
        return response
    }
}
