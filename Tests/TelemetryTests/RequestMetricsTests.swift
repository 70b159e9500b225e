import Testing

@testable import Telemetry

struct RequestMetricsTests {
    @Test func aRequestIsCountedByRoutePatternMethodAndStatus() {
        let hub = MetricsHub(provider: "openai")
        hub.requests.requestFinished(
            route: "/conversation/{conversation_id}", method: "GET", status: 200, seconds: 0.02, upstreamSeconds: 0.015, clientSeconds: 0.001
        )
        hub.requests.requestFinished(
            route: "/conversation/{conversation_id}", method: "GET", status: 200, seconds: 0.2, upstreamSeconds: 0, clientSeconds: 0
        )
        let exposition = Exposition(hub)
        let labels = #"http_request_method="GET",http_route="/conversation/{conversation_id}""#
        #expect(exposition[#"http_server_request_duration_seconds_count{\#(labels),http_response_status_code="200"}"#] == 2)
        #expect(exposition[#"http_server_request_duration_seconds_bucket{\#(labels),http_response_status_code="200",le="0.025"}"#] == 1)
        #expect(exposition[#"http_server_request_duration_seconds_bucket{\#(labels),http_response_status_code="200",le="0.25"}"#] == 2)
        // The overhead is the duration less the waits: 4 ms, then 200 ms (beyond the last bucket).
        #expect(exposition[#"askd_overhead_seconds_bucket{\#(labels),le="0.0025"}"#] == 0)
        #expect(exposition[#"askd_overhead_seconds_bucket{\#(labels),le="0.005"}"#] == 1)
        #expect(exposition[#"askd_overhead_seconds_bucket{\#(labels),le="0.1"}"#] == 1)
        #expect(exposition[#"askd_overhead_seconds_count{\#(labels)}"#] == 2)
        let sum = exposition[#"askd_overhead_seconds_sum{\#(labels)}"#] ?? 0
        #expect(abs(sum - 0.204) < 1e-9)
    }

    @Test func unknownMethodsAndUnmatchedPathsStayBounded() {
        let hub = MetricsHub(provider: "openai")
        for method in ["BREW", "PROPFIND", "get"] {
            hub.requests.requestFinished(route: "", method: method, status: 404, seconds: 0.001, upstreamSeconds: 0, clientSeconds: 0)
        }
        let exposition = Exposition(hub)
        #expect(exposition[#"http_server_request_duration_seconds_count{http_request_method="_OTHER",http_response_status_code="404"}"#] == 3)
        #expect(!exposition.text.contains("BREW"))
    }

    @Test func waitsLongerThanTheRequestLeaveNoNegativeOverhead() {
        let hub = MetricsHub(provider: "openai")
        hub.requests.requestFinished(route: "/ask", method: "POST", status: 200, seconds: 1, upstreamSeconds: 0.9, clientSeconds: 0.2)
        #expect(Exposition(hub)[#"askd_overhead_seconds_sum{http_request_method="POST",http_route="/ask"}"#] == 0)
    }

    @Test func streamsOpenIsAGauge() {
        let hub = MetricsHub(provider: "openai")
        hub.requests.streamOpened()
        hub.requests.streamOpened()
        hub.requests.streamClosed()
        #expect(Exposition(hub)["askd_streams_open"] == 1)
    }

    @Test func theStateGaugesComeFromTheirSources() {
        let hub = MetricsHub(provider: "openai")
        hub.setLoad { (inFlight: 7, busyWorkers: 3, workers: 10) }
        hub.setStoreCheck { false }
        let exposition = Exposition(hub)
        #expect(exposition["askd_requests_in_flight"] == 7)
        #expect(exposition[#"askd_worker_threads{state="busy"}"#] == 3)
        #expect(exposition[#"askd_worker_threads{state="idle"}"#] == 7)
        #expect(exposition["askd_store_up"] == 0)
        hub.setStoreCheck { true }
        #expect(Exposition(hub)["askd_store_up"] == 1)
        hub.rateLimited(limit: "rpm")
        #expect(Exposition(hub)[#"askd_rate_limited_total{limit="rpm"}"#] == 1)
        #expect(Exposition(hub)[#"askd_rate_limited_total{limit="tokens_per_day"}"#] == 0)
    }

    @Test func processFiguresAreThisProcesses() throws {
        let exposition = Exposition(MetricsHub(provider: "openai"))
        #expect(try #require(exposition["process_resident_memory_bytes"]) > 1_000_000)
        #expect(try #require(exposition["process_open_fds"]) >= 3)
        #expect(try #require(exposition["process_start_time_seconds"]) > 1_700_000_000)
        #expect(exposition["process_cpu_seconds_total"] != nil)
    }
}
