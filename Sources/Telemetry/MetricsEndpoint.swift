import HTTP

/// `GET /metrics`: the metrics in Prometheus' text format (version 0.0.4).
public struct MetricsEndpoint: Sendable {
    let hub: MetricsHub

    public init(hub: MetricsHub) {
        self.hub = hub
    }

    public func handle(_ request: Request) throws -> Response {
        Response(
            status: .ok,
            headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store"],
            body: .bytes(hub.exposition())
        )
    }
}
