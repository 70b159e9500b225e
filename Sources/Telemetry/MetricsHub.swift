import CoreMetrics
import HTTP
import Platform
import Prometheus

/// askd's metrics, all in one swift-prometheus registry, recorded through swift-metrics (see
/// `DescribedMetricsFactory`): the requests (`RequestMetrics`), the model (`ModelMetrics`), the
/// store (`StoreMetrics`), the process (`ProcessMetrics`), and gauges of askd's state read at
/// each scrape from `Sources`.
public final class MetricsHub: Sendable {
    /// Where the gauges read at a scrape come from: set once the server and the store exist.
    struct Sources: Sendable {
        /// Requests in flight, worker threads busy, and worker threads in all.
        var load: @Sendable () -> (inFlight: Int, busyWorkers: Int, workers: Int) = { (0, 0, 0) }
        /// Whether the store answers (`HealthHandler`'s last check).
        var storeUp: @Sendable () -> Bool = { false }
    }

    /// The limits askd refuses requests by (`askd_rate_limited_total{limit=...}`).
    public static let limits = ["rpm", "tpm", "tokens_per_day", "max_parallel", "in_flight"]
    /// The reasons a model call fails (`askd_upstream_errors_total{reason=...}`).
    static let upstreamReasons = ["rate_limited", "rejected_credentials", "timeout", "failed"]

    public let registry: PrometheusCollectorRegistry
    public let factory: DescribedMetricsFactory
    public let requests: RequestMetrics
    public let model: ModelMetrics
    public let store: StoreMetrics
    private let process: ProcessMetrics
    private let sources = Locked(Sources())
    private let inFlight: Meter
    private let streams: Meter
    private let storeUp: Meter
    private let busyWorkers: Meter
    private let idleWorkers: Meter

    /// - Parameter provider: the model's provider, `gen_ai_provider_name` (such as `openai`).
    public init(provider: String, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let factory = DescribedMetricsFactory(registry: registry)
        self.factory = factory
        requests = RequestMetrics(factory: factory)
        model = ModelMetrics(factory: factory, provider: provider)
        store = StoreMetrics(factory: factory)
        process = ProcessMetrics(factory: factory)
        inFlight = Meter(label: Instruments.requestsInFlight.name, factory: factory)
        streams = Meter(label: Instruments.streamsOpen.name, factory: factory)
        storeUp = Meter(label: Instruments.storeUp.name, factory: factory)
        busyWorkers = Meter(label: Instruments.workerThreads.name, dimensions: [("state", "busy")], factory: factory)
        idleWorkers = Meter(label: Instruments.workerThreads.name, dimensions: [("state", "idle")], factory: factory)
        for reason in Self.upstreamReasons { model.upstreamErrors(reason: reason) }
    }

    /// Where `askd_requests_in_flight` and `askd_worker_threads` come from: requests in flight,
    /// worker threads busy, and worker threads in all.
    public func setLoad(_ load: @escaping @Sendable () -> (inFlight: Int, busyWorkers: Int, workers: Int)) {
        sources.withLock { $0.load = load }
    }

    /// Where `askd_store_up` comes from: whether the store answers.
    public func setStoreCheck(_ storeUp: @escaping @Sendable () -> Bool) {
        sources.withLock { $0.storeUp = storeUp }
    }

    /// askd refused a request by `limit`, one of `limits`.
    public func rateLimited(limit: String) {
        requests.refused(by: limit)
    }

    /// The metrics in Prometheus' text format, with the gauges read now.
    public func exposition() -> [UInt8] {
        refresh()
        return registry.emitToBuffer()
    }

    private func refresh() {
        let sources = sources.withLock { $0 }
        let load = sources.load()
        inFlight.set(load.inFlight)
        busyWorkers.set(load.busyWorkers)
        idleWorkers.set(max(0, load.workers - load.busyWorkers))
        streams.set(requests.streamsOpen)
        storeUp.set(sources.storeUp() ? 1 : 0)
        process.refresh()
    }
}
