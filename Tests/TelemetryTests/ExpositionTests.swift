import CoreMetrics
import Foundation
import Prometheus
import Store
import Upstream
import Testing

@testable import Telemetry

struct ExpositionTests {
    @Test func everyMetricAskdHasIsThereWithHelpOnceUsed() throws {
        let hub = MetricsHub(provider: "openai")
        hub.requests.requestFinished(route: "/healthz", method: "GET", status: 200, seconds: 0.001, upstreamSeconds: 0, clientSeconds: 0)
        let request = ChatRequestFixture.request
        hub.model.answered(request, with: ChatResponseFixture.withUsage, seconds: 0.5)
        hub.model.firstChunk(request, seconds: 0.1)
        let store = MeasuredStore(MemoryStore(), metrics: hub.store)
        try store.checkAvailable()
        let exposition = Exposition(hub)
        for instrument in Instruments.all {
            #expect(exposition.typed.contains(instrument.name), "\(instrument.name) is missing")
            #expect(exposition.helped.contains(instrument.name), "\(instrument.name) has no HELP")
        }
        #expect(exposition.typed == exposition.helped)
    }

    @Test func aLibrarysMetricsGetHelpToo() {
        let registry = PrometheusCollectorRegistry()
        let factory = DescribedMetricsFactory(registry: registry)
        CoreMetrics.Counter(label: "library_events_total", dimensions: [("kind", "a")], factory: factory).increment()
        CoreMetrics.Timer(label: "library_wait_seconds", factory: factory).recordMilliseconds(3)
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains("# HELP library_events_total library_events_total, reported by a library askd uses.\n"))
        #expect(text.contains(#"library_events_total{kind="a"} 1"#))
        #expect(text.contains("# HELP library_wait_seconds "))
        #expect(text.contains(#"library_wait_seconds_bucket{le="0.005"} 1"#))
    }

    @Test func storeOperationsAreTimedByNameAndFailure() throws {
        let hub = MetricsHub(provider: "openai")
        let store = MeasuredStore(MemoryStore(), metrics: hub.store)
        _ = try store.conversation(id: "nope", owner: "someone")
        _ = try store.conversation(id: "nope", owner: "someone")
        let lock = try store.acquireTurnLock(conversationID: "c1", timeout: 0)
        #expect(throws: StoreError.self) { try store.acquireTurnLock(conversationID: "c1", timeout: 0) }
        store.releaseTurnLock(lock)
        let exposition = Exposition(hub)
        #expect(exposition[#"askd_store_operation_duration_seconds_count{operation="conversation"}"#] == 2)
        #expect(exposition[#"askd_store_operation_duration_seconds_count{operation="acquire_turn_lock"}"#] == 1)
        #expect(exposition[#"askd_store_operation_duration_seconds_count{operation="acquire_turn_lock",error_type="turn_lock_timed_out"}"#] == 1)
        #expect(exposition[#"askd_store_operation_duration_seconds_count{operation="release_turn_lock"}"#] == 1)
    }
}

enum ChatRequestFixture {
    static let request = ChatRequest(model: "gpt-test", messages: [ChatMessage(role: "user", content: "hi")])
}

enum ChatResponseFixture {
    static let withUsage = ChatResponse(text: "hello", model: "gpt-test", finishReason: "stop", usage: TokenUsage(promptTokens: 3, completionTokens: 2, totalTokens: 5))
}
