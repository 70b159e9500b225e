import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// `/metrics` through nginx, scraped by a real Prometheus (Debian's `prometheus`), and the
    /// deploy files that name its metrics.
    @Suite struct MetricsThroughNginx {
        @Test func prometheusScrapesAskdAndSeesExactlyWhatWasSent() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-upstream",
                "ASKD_MODEL": "test-model", "ASKD_UPSTREAM_TIMEOUT_SECONDS": "10",
            ])
            let token = try stack.createToken(name: "metrics")
            let headers = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]

            // Four plain answers and a stream: the tokens the upstream reported, summed.
            var input = 0
            var output = 0
            var conversation = ""
            for prompt in ["one", "two words", "three little words", "four words and more"] {
                let answer = try stack.client.request("POST", "/ask", headers: headers, body: Array(#"{"prompt":"\#(prompt)"}"#.utf8))
                try #require(answer.status == 200, "\(answer.text)")
                let response = try #require(try answer.json()["response"] as? [String: Any])
                let usage = try #require(response["usage"] as? [String: Any])
                input += try #require(usage["prompt_tokens"] as? Int)
                output += try #require(usage["completion_tokens"] as? Int)
                conversation = try #require(response["conversation_id"] as? String)
            }
            let stream = try EventStreamClient(port: stack.port, token: token, body: ##"{"prompt":"#drip 3 100","stream":true}"##)
            let done = try #require(try stream.readAll().last)
            #expect(done.event == "done")
            let streamUsage = try #require((done.json["response"] as? [String: Any])?["usage"] as? [String: Any])
            input += try #require(streamUsage["prompt_tokens"] as? Int)
            output += try #require(streamUsage["completion_tokens"] as? Int)
            // The model fails once (askd answers 502), a conversation is read twice, and a path
            // that matches no route gets askd's 404.
            let failed = try stack.client.request("POST", "/ask", headers: headers, body: Array(##"{"prompt":"#status 500"}"##.utf8))
            #expect(failed.status == 502)
            for _ in 0..<2 {
                #expect(try stack.client.get("/conversation/\(conversation)", headers: headers).status == 200)
            }
            #expect(try stack.client.get("/conversation/\(conversation)/nothing", headers: headers).status == 404)

            // The exposition: promtool's checks pass; no raw path, id or token in it.
            let scrape = try stack.client.get("/metrics")
            try #require(scrape.status == 200)
            #expect(scrape.header("content-type") == "text/plain; version=0.0.4; charset=utf-8")
            let exposition = scrape.text
            let check = try PrometheusServer.promtool(["check", "metrics"], input: exposition)
            #expect(check.status == 0, "promtool check metrics: \(check.stdout)\(check.stderr)")
            for secret in [conversation, token, "/nothing"] {
                #expect(!exposition.contains(secret), "\(secret) became a label")
            }
            #expect(exposition.contains(#"http_route="/conversation/{conversation_id}""#))

            // Every metric the dashboard and the alert rules name is there.
            let names = Set(exposition.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
                String(line.prefix { $0 != "{" && $0 != " " })
            })
            for file in ["deploy/grafana/askd.json", "deploy/prometheus/askd-rules.yml"] {
                let text = try String(contentsOf: Stack.repository.appendingPathComponent(file), encoding: .utf8)
                let named = Self.metricNames(in: text)
                #expect(named.count >= 5, "\(file) names \(named)")
                for name in named { #expect(names.contains(name), "\(file) names \(name), which /metrics does not have") }
            }

            // A real Prometheus scrapes askd through nginx.
            let prometheus = try PrometheusServer(scrapeConfigs: """
                  - job_name: askd
                    static_configs:
                      - targets: ['127.0.0.1:\(stack.port)']

                """)
            #expect(try prometheus.value(#"up{job="askd"}"#) == 1)
            let asks = #"http_server_request_duration_seconds_count{http_route="/ask",http_request_method="POST""#
            #expect(try prometheus.value("sum(\(asks)})") == 6)
            #expect(try prometheus.value("sum(\(asks),http_response_status_code=\"200\"})") == 5)
            #expect(try prometheus.value("sum(\(asks),http_response_status_code=\"502\"})") == 1)
            #expect(try prometheus.value(#"sum(http_server_request_duration_seconds_count{http_route="/conversation/{conversation_id}",http_request_method="GET",http_response_status_code="200"})"#) == 2)
            #expect(try prometheus.value(#"sum(http_server_request_duration_seconds_count{http_response_status_code="404",http_route=""})"#) == 1)
            #expect(try prometheus.value(#"sum(gen_ai_client_token_usage_sum{gen_ai_token_type="input",gen_ai_request_model="test-model"})"#) == Double(input))
            #expect(try prometheus.value(#"sum(gen_ai_client_token_usage_sum{gen_ai_token_type="output"})"#) == Double(output))
            #expect(try prometheus.value(#"sum(gen_ai_client_token_usage_count{gen_ai_token_type="output"})"#) == 5)
            #expect(try prometheus.value(#"sum(gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat",error_type=""})"#) == 5)
            #expect(try prometheus.value(#"sum(gen_ai_client_operation_duration_seconds_count{error_type="failed"})"#) == 1)
            #expect(try prometheus.value(#"askd_upstream_errors_total{reason="failed"}"#) == 1)
            #expect(try prometheus.value(#"askd_upstream_errors_total{reason="timeout"}"#) == 0)
            // The stream's first piece (the upstream sends it at once, then one every 100 ms).
            #expect(try prometheus.value("sum(gen_ai_client_operation_time_to_first_chunk_seconds_count)") == 1)
            let firstChunk = try prometheus.value("sum(gen_ai_client_operation_time_to_first_chunk_seconds_sum)")
            #expect(firstChunk > 0 && firstChunk < 2, "time to first chunk \(firstChunk)")
            // askd's own share of /ask: less than the whole (most is the model's), and observed for each.
            #expect(try prometheus.value(#"sum(askd_overhead_seconds_count{http_route="/ask"})"#) == 6)
            let overhead = try prometheus.value(#"sum(askd_overhead_seconds_sum{http_route="/ask"})"#)
            let duration = try prometheus.value(#"sum(http_server_request_duration_seconds_sum{http_route="/ask"})"#)
            #expect(overhead < duration - 0.2, "overhead \(overhead) s of \(duration) s, which holds a 0.3 s stream")
            #expect(try prometheus.value("askd_store_up") == 1)
            #expect(try prometheus.value("askd_streams_open") == 0)
            #expect(try prometheus.value(#"askd_worker_threads{state="idle"}"#) >= 1)
            #expect(try prometheus.value(#"sum(askd_store_operation_duration_seconds_count{operation="commit_turn"})"#) == 5)
            #expect(try prometheus.value("process_resident_memory_bytes") > 1_000_000)
            #expect(try prometheus.value("time() - process_start_time_seconds") < 600)
            #expect(try prometheus.value("process_open_fds") > 3)
        }

        @Test func eachProcessOnASharedSocketIsScrapedThroughItsOwn() throws {
            let pair = try SharedSocketPair()
            for _ in 0..<40 { #expect(try pair.client.get("/healthz").status == 200) }
            let prometheus = try PrometheusServer(scrapeConfigs: """
                  - job_name: askd
                    static_configs:
                      - targets: ['127.0.0.1:\(pair.port)']
                        labels: {__metrics_path__: /metrics/1, instance: askd@1}
                      - targets: ['127.0.0.1:\(pair.port)']
                        labels: {__metrics_path__: /metrics/2, instance: askd@2}

                """)
            #expect(try prometheus.value(#"count(up{job="askd"} == 1)"#) { $0 == 2 } == 2)
            // What each process counted is what its own log shows it answered, and together they
            // answered every request that went through the shared socket.
            var total = 0.0
            var answeredInAll = 0.0
            for process in 1...2 {
                let answered = Double(pair.log(process).components(separatedBy: "path=/healthz ").count - 1)
                let counted = try prometheus.value(
                    #"sum(http_server_request_duration_seconds_count{instance="askd@\#(process)",http_route="/healthz"}) or vector(0)"#
                ) { $0 == answered }
                #expect(counted == answered, "askd@\(process)")
                total += counted
                answeredInAll += answered
            }
            // The 40 requests, and the readiness checks that reached askd.
            #expect(total == answeredInAll)
            #expect(total >= 40 && total <= Double(40 + pair.readinessChecks))
        }

        @Test func rulesTheirTestsAndTheScrapeConfigPassPromtool() throws {
            let folder = Stack.repository.appendingPathComponent("deploy/prometheus").path
            for arguments in [
                ["check", "rules", "\(folder)/askd-rules.yml"],
                ["test", "rules", "\(folder)/askd-rules.test.yml"],
                ["check", "config", "\(folder)/prometheus.yml"],
            ] {
                let result = try PrometheusServer.promtool(arguments)
                #expect(result.status == 0, "promtool \(arguments.joined(separator: " ")): \(result.stdout)\(result.stderr)")
            }
        }

        @Test func metricsOffMeansNoMetricsEndpoint() throws {
            let stack = try Stack(environment: ["ASKD_METRICS": "0"])
            let scrape = try stack.client.get("/metrics")
            #expect(scrape.status == 404)
            #expect(scrape.header("x-request-id") != nil, "askd's own 404")
        }

        @Test func jsonLogsAreOneObjectPerLine() throws {
            let stack = try Stack(environment: ["ASKD_LOG_FORMAT": "json"])
            let health = try stack.client.get("/healthz", headers: [("X-Request-Id", "json-log-check-1")])
            #expect(health.status == 200)
            var entry: [String: Any] = [:]
            try waitUntil("askd logs the request") {
                let lines = stack.askdLog.split(separator: "\n")
                for line in lines {
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
                    #expect(object["time"] is String && object["level"] is String && object["message"] is String, "\(line)")
                    if object["request_id"] as? String == "json-log-check-1" { entry = object }
                }
                return !entry.isEmpty
            }
            #expect(entry["message"] as? String == "request")
            #expect(entry["level"] as? String == "info")
            #expect(entry["method"] as? String == "GET")
            #expect(entry["path"] as? String == "/healthz")
            #expect(entry["status"] as? Int == 200)
            #expect(entry["duration_ms"] is Double || entry["duration_ms"] is Int)
        }

        /// The metric names that the queries of `text`, a dashboard or a rules file, name: a
        /// name followed by a selector (`{`), a range (`[`) or a comparison; label names are not.
        static func metricNames(in text: String) -> Set<String> {
            let pattern = try! NSRegularExpression(pattern: #"\b((?:askd|http|gen_ai|process)_[a-z_]+)(?=\{|\[| ==| >| <)"#)
            let range = NSRange(text.startIndex..., in: text)
            return Set(pattern.matches(in: text, range: range).map { String(text[Range($0.range(at: 1), in: text)!]) })
        }
    }
}

/// Two askd processes accepting on one Unix socket, as askd@1 and askd@2 do under systemd (the
/// socket handed over on standard input), each with its own metrics socket
/// (ASKD_METRICS_SOCKET=<dir>/metrics/N/askd.sock), behind nginx with deploy/nginx.conf's
/// `/metrics/N` location. nginx keeps no idle connections here, so that requests are spread.
final class SharedSocketPair {
    let directory: URL
    let port: UInt16
    private var processes: [ChildProcess] = []
    private var nginx: ChildProcess?
    /// /healthz requests made while waiting for the stack to answer.
    private(set) var readinessChecks = 0

    var client: HTTPClient { HTTPClient(port: port) }

    init() throws {
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("askd-pair-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        port = try FreePort.find()
        let shared = directory.appendingPathComponent("askd.sock").path
        let listener = try Self.listen(at: shared)
        defer { close(listener) }
        for process in 1...2 {
            let metricsFolder = directory.appendingPathComponent("metrics/\(process)")
            try FileManager.default.createDirectory(at: metricsFolder, withIntermediateDirectories: true)
            processes.append(try Stack.launch(Stack.askdBinary, ["serve"], environment: [
                "ASKD_DATABASE": directory.appendingPathComponent("askd.sqlite").path,
                "ASKD_METRICS_SOCKET": metricsFolder.appendingPathComponent("askd.sock").path, "ASKD_SOCKET_MODE": "0666",
                "ASKD_THREADS": "8",
            ], log: directory.appendingPathComponent("askd-\(process).log").path, stdin: listener))
            try waitUntil("askd \(process) makes its metrics socket") {
                FileManager.default.fileExists(atPath: metricsFolder.appendingPathComponent("askd.sock").path)
            }
        }
        let template = try String(contentsOf: Stack.repository.appendingPathComponent("dev/askd_fastcgi.conf"), encoding: .utf8)
        let params = template.replacingOccurrences(of: "fastcgi_pass askd;", with: "")
        let extra = directory.appendingPathComponent("extra.conf")
        try """
            location ~ ^/metrics/(?<askd_process>[0-9]+)$ {
                fastcgi_pass unix:\(directory.path)/metrics/$askd_process/askd.sock;
            \(params)
            }
            """.write(to: extra, atomically: true, encoding: .utf8)
        let render = try Stack.run(
            Stack.repository.appendingPathComponent("dev/render-nginx-conf").path, [directory.path, String(port), shared, extra.path]
        )
        try #require(render.status == 0, "render: \(render.stderr)")
        let config = directory.appendingPathComponent("nginx.conf")
        try render.stdout.replacingOccurrences(of: "keepalive 128;", with: "")
            .write(to: config, atomically: true, encoding: .utf8)
        nginx = try Stack.launch(
            Stack.nginxBinary,
            ["-p", directory.path, "-e", directory.appendingPathComponent("error.log").path, "-c", config.path, "-g", "daemon off;"],
            log: directory.appendingPathComponent("nginx.out").path
        )
        let client = client
        try waitUntil("nginx and askd answer /healthz") {
            readinessChecks += 1
            return (try? client.get("/healthz"))?.status == 200
        }
    }

    deinit {
        nginx?.signal(SIGQUIT)
        for process in processes { process.signal(SIGKILL) }
        for process in processes { _ = process.waitForExit(within: 5) }
        if nginx?.waitForExit(within: 5) == nil { nginx?.signal(SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }

    /// What askd process `number` (1 or 2) has logged.
    func log(_ number: Int) -> String {
        (try? String(contentsOfFile: directory.appendingPathComponent("askd-\(number).log").path, encoding: .utf8)) ?? ""
    }

    /// A listening Unix socket at `path`, open to nginx's workers.
    private static func listen(at path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0 && Glibc.listen(fd, 128) == 0 && chmod(path, 0o666) == 0, "cannot listen at \(path)")
        return fd
    }
}
