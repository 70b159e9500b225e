import CoreMetrics
import Prometheus

/// A swift-metrics factory whose metrics are swift-prometheus metrics with askd's HELP text and
/// buckets (`Instruments`), so that every metric on /metrics has HELP and `promtool check
/// metrics` passes.
///
/// swift-prometheus's own `PrometheusMetricsFactory` registers metrics without HELP, and its
/// registry refuses (with a fatal error) a second registration of a name with other HELP text: so
/// every metric of the process, askd's and any library's, goes through this one factory. A metric
/// askd does not know gets a HELP line naming it as a library's.
public struct DescribedMetricsFactory: MetricsFactory {
    public let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    private func help(_ label: String) -> String {
        Instruments.named(label)?.help ?? "\(label), reported by a library askd uses."
    }

    private func buckets(_ label: String, default fallback: [Double]) -> [Double] {
        if case .histogram(let buckets) = Instruments.named(label)?.kind { return buckets }
        return fallback
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: help(label))
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: help(label))
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(name: label, labels: dimensions, help: help(label)) }
        return registry.makeValueHistogram(
            name: label, labels: dimensions, buckets: buckets(label, default: Instruments.httpBuckets), help: help(label)
        )
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(name: label, labels: dimensions, help: help(label))
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let buckets = buckets(label, default: Instruments.httpBuckets).map { Duration.nanoseconds(Int64($0 * 1_000_000_000)) }
        return registry.makeDurationHistogram(name: label, labels: dimensions, buckets: buckets, help: help(label))
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
