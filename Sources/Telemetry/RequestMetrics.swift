import CoreMetrics
import HTTP
import Synchronization

/// Counts every answered request into `http_server_request_duration_seconds` and
/// `askd_overhead_seconds`, and the streams open, through swift-metrics.
///
/// Labels are bounded: the route pattern (never the raw path), one of the standard methods or
/// `_OTHER`, and the status code. The swift-metrics handlers of each label set are made once by
/// the factory and kept (`HandleCache`); a request looks them up under a read lock and records into them
/// directly (swift-prometheus's histograms, each behind its own lock). Recording through
/// swift-metrics' generic `Recorder.record` cost about 360 instructions more per value.
public final class RequestMetrics: RequestRecorder {
    private struct Key: Hashable {
        let route: String
        let method: String
        let status: Int

        /// Hashes lengths, not bytes: the few keys askd has differ in them (equal ones are told
        /// apart by ==), and hashing two strings' bytes on every request cost more.
        func hash(into hasher: inout Hasher) {
            hasher.combine(status)
            hasher.combine(route.utf8.count)
            hasher.combine(method.utf8.count)
        }
    }

    private final class Handles: Sendable {
        let duration: any RecorderHandler
        let overhead: any RecorderHandler

        init(_ key: Key, factory: any MetricsFactory) {
            var labels = [("http_request_method", key.method)]
            if !key.route.isEmpty { labels.append(("http_route", key.route)) }
            overhead = factory.makeRecorder(label: Instruments.overhead.name, dimensions: labels, aggregate: true)
            labels.append(("http_response_status_code", String(key.status)))
            duration = factory.makeRecorder(label: Instruments.httpServerRequestDuration.name, dimensions: labels, aggregate: true)
        }
    }

    /// `method` if it is a standard one; any other is `_OTHER`, as OpenTelemetry has it.
    static func bounded(_ method: String) -> String {
        switch method {
        case "GET", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE": method
        default: "_OTHER"
        }
    }

    private let factory: any MetricsFactory
    private let handles = HandleCache<Key, Handles>()
    private let openStreams = Atomic<Int>(0)

    /// `askd_rate_limited_total` by limit; counters start at 0, so that rate() and the alert
    /// rules see them before the first refusal.
    private let refusals: [String: CoreMetrics.Counter]

    public init(factory: any MetricsFactory) {
        self.factory = factory
        refusals = Dictionary(uniqueKeysWithValues: MetricsHub.limits.map { limit in
            (limit, CoreMetrics.Counter(label: Instruments.rateLimited.name, dimensions: [("limit", limit)], factory: factory))
        })
    }

    public func refused(by limit: String) {
        refusals[limit]?.increment()
    }

    public func requestFinished(route: String, method: String, status: Int, seconds: Double, upstreamSeconds: Double, clientSeconds: Double) {
        let key = Key(route: route, method: Self.bounded(method), status: status)
        let handles = self.handles.value(for: key) { Handles(key, factory: factory) }
        handles.duration.record(seconds)
        handles.overhead.record(max(0, seconds - upstreamSeconds - clientSeconds))
    }

    public func streamOpened() {
        openStreams.add(1, ordering: .relaxed)
    }

    public func streamClosed() {
        openStreams.subtract(1, ordering: .relaxed)
    }

    /// Streamed answers in progress now.
    public var streamsOpen: Int { openStreams.load(ordering: .relaxed) }
}
