import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// deploy/: the nginx site, run for real in front of askd, and the systemd units, checked
    /// with `systemd-analyze` (no running systemd needed).
    @Suite struct DeployTests {
        // MARK: nginx

        @Test func nginxAcceptsTheShippedSite() throws {
            let site = try DeploySite(start: false)
            let result = try site.nginx(["-t"])
            #expect(result.status == 0, "nginx -t: \(result.stderr)")
            #expect(result.stderr.contains("test is successful"), "\(result.stderr)")
            // Nothing but warnings about the test certificate (which has no OCSP responder).
            let complaints = result.stderr.split(separator: "\n").filter {
                $0.contains("[") && !$0.contains("\"ssl_stapling\" ignored")
            }
            #expect(complaints.isEmpty, "\(complaints)")
        }

        @Test func askdStartsOnTheFirstRequestAndHealthzIsForLocalhostOnly() throws {
            let site = try DeploySite()
            #expect(!site.askdHasStarted, "socket activation: askd waits for the first connection")

            let health = try site.https("/healthz")
            try #require(health.status == 200, "\(health)\naskd: \(site.askdLog)")
            #expect(health.httpVersion == "2", "HTTP/2 over TLS")
            #expect(health.header("content-type")?.hasPrefix("application/json") == true)
            #expect(try health.json()["status"] as? String == "ok")
            #expect(site.askdHasStarted)

            // 127.0.0.2 is a loopback address too, but not one the site lets read /healthz.
            let outsider = try site.https("/healthz", ["--interface", "127.0.0.2"])
            #expect(outsider.status == 403, "\(outsider)")
            #expect(try outsider.json()["error"] as? String == "forbidden")
            let metrics = try site.https("/metrics", ["--interface", "127.0.0.2"])
            #expect(metrics.status == 403)
            #expect(try site.https("/metrics/1", ["--interface", "127.0.0.2"]).status == 403)

            // For localhost: the metrics of whichever process answers, and of process 1 through
            // its own socket (askd.service's ASKD_METRICS_SOCKET); there is no process 2.
            let shared = try site.https("/metrics")
            #expect(shared.status == 200, "\(shared)")
            #expect(shared.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(shared.text.contains("# HELP http_server_request_duration_seconds "))
            let own = try site.https("/metrics/1")
            #expect(own.status == 200, "\(own)\n\(site.errorLog)")
            #expect(own.text.contains("process_start_time_seconds "))
            #expect(try site.https("/metrics/2").status == 503)

            // The API locations reach askd (whose 404 has a request id); other paths do not.
            let api = try site.https("/conversation/x/y")
            #expect(api.status == 404)
            #expect(api.header("x-request-id") != nil, "answered by askd: \(api)")
            #expect(try api.json()["error"] is String)
        }

        @Test func aTokenFromTheAdminCommandWorksThroughTheSite() throws {
            let site = try DeploySite()
            // As an administrator would, before the first request: the token goes into the
            // database that askd then serves from.
            let created = try site.askdCommand(["token", "create", "--name", "first"])
            try #require(created.status == 0, "token create: \(created.stderr)")
            let token = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

            let json = ["-H", "Content-Type: application/json"]
            let answer = try site.https("/ask", json + ["-H", "Authorization: Bearer \(token)", "--data-binary", #"{"prompt":"hello"}"#])
            try #require(answer.status == 200, "\(answer)\naskd: \(site.askdLog)")
            let response = try #require(try answer.json()["response"] as? [String: Any])
            #expect((response["message"] as? String)?.contains("hello") == true)
            let id = try #require(response["conversation_id"] as? String)

            let refused = try site.https("/ask", json + ["--data-binary", #"{"prompt":"hello"}"#])
            #expect(refused.status == 401, "\(refused)")
            #expect(refused.header("www-authenticate") == "Bearer")

            let deleted = try site.https("/conversation/\(id)", ["-X", "DELETE", "-H", "Authorization: Bearer \(token)"])
            #expect(deleted.status == 204, "\(deleted)")
        }

        @Test func port80RedirectsToHTTPS() throws {
            let site = try DeploySite()
            let response = try site.http("/conversations?page=2")
            #expect(response.status == 301, "\(response)")
            #expect(response.header("location") == "https://askd.example.com/conversations?page=2")
            let elsewhere = try site.http("/x", ["-H", "Host: evil.example"])
            #expect(elsewhere.header("location") == "https://askd.example.com/x", "never to the host a request names")
            #expect(response.header("server") == "nginx")
            #expect(!site.askdHasStarted, "a redirect never reaches askd")
        }

        @Test func answersCarrySecurityHeadersAndNoVersionAndOnlyModernTLS() throws {
            let site = try DeploySite()
            for path in ["/healthz", "/", "/no-such-file"] {
                let response = try site.https(path)
                #expect(response.header("server") == "nginx", "\(path): no version")
                let hsts = response.header("strict-transport-security") ?? ""
                let maxAge = hsts.firstMatch(of: #/max-age=(\d+)/#).flatMap { Int($0.1) } ?? 0
                #expect(maxAge >= 31_536_000, "\(path): HSTS for a year or more: \(hsts)")
                #expect(response.header("x-content-type-options") == "nosniff", "\(path)")
                #expect(response.header("x-frame-options") == "DENY", "\(path)")
                #expect(response.header("referrer-policy") != nil, "\(path)")
                #expect(response.header("content-security-policy")?.contains("frame-ancestors 'none'") == true, "\(path)")
            }
            #expect(try site.https("/", ["--tlsv1.2", "--tls-max", "1.2"]).status == 200, "TLS 1.2")
            #expect(try site.https("/", ["--tlsv1.3"]).status == 200, "TLS 1.3")
            // TLS 1.1 is refused (even with the client's own floor lowered).
            let old = try site.curl(["--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0", site.httpsURL("/")])
            #expect(old.status != 0, "a TLS 1.1 handshake must fail: \(old.stdout)")
        }

        @Test func theRateLimitAnswers429JSONOnceTheBurstIsUsedUp() throws {
            let site = try DeploySite()
            let burst = try #require(
                site.siteText.firstMatch(of: #/limit_req zone=askd_req burst=(\d+)/#).flatMap { Int($0.1) },
                "the API locations use limit_req zone=askd_req burst=N"
            )
            // Every API location shares the allowance of a client address.
            let paths = ["/conversations", "/ask", "/conversation/x", "/usage", "/search"]
            let count = burst + 40
            let results = try site.httpsBatch(paths, count: count)
            #expect(results.count == count)
            // The first request and the burst pass, whatever the timing.
            let passed = results.prefix(burst + 1)
            #expect(passed.allSatisfy { $0.status != 429 && $0.status != 0 }, "\(results.map(\.status))")
            for (index, path) in paths.enumerated() {
                let statuses = stride(from: index, to: count, by: paths.count).map { results[$0].status }
                #expect(statuses.contains(429), "\(path) is rate-limited: \(statuses)")
            }
            let limited = try #require(results.last { $0.status == 429 }, "no 429 in \(results.map(\.status))")
            #expect(try limited.json()["error"] as? String != nil, "\(limited)")
            #expect(limited.header("content-type")?.hasPrefix("application/json") == true)
            #expect(limited.header("retry-after") == "1")
            #expect(limited.header("strict-transport-security") != nil, "security headers on errors too")
            // /healthz is not rate-limited, and another address has its own allowance.
            #expect(try site.https("/healthz").status == 200)
            #expect(try site.https("/conversations", ["--interface", "127.0.0.3"]).status != 429)
        }

        @Test func aBodyOverAskdsLimitIsRefusedWith413() throws {
            let site = try DeploySite()
            let limit = 1 << 20  // askd's default ASKD_MAX_BODY_BYTES
            let atLimit = site.directory.appendingPathComponent("at-limit.json").path
            let overLimit = site.directory.appendingPathComponent("over-limit.json").path
            try Data(repeating: 0x20, count: limit).write(to: URL(fileURLWithPath: atLimit))
            try Data(repeating: 0x20, count: limit + 1).write(to: URL(fileURLWithPath: overLimit))

            let over = try site.https("/ask", ["--data-binary", "@\(overLimit)", "-H", "Content-Type: application/json"])
            #expect(over.status == 413, "\(over)")
            #expect((try? over.json())?["error"] as? String == "request body is too large", "\(over)")
            // nginx's limit is askd's: a body askd accepts is passed on (askd answers, not 413).
            let at = try site.https("/ask", ["--data-binary", "@\(atLimit)", "-H", "Content-Type: application/json"])
            #expect(at.status != 413, "\(at)")
            #expect(at.header("x-request-id") != nil, "askd answered: \(at)")
        }

        /// What nginx itself would answer with an HTML page is JSON too.
        @Test func nginxsOwnAnswersOnTheAPIAreJSON() throws {
            let site = try DeploySite()
            // Over HTTP/1.1: over HTTP/2 nginx resets the stream of a request with such headers.
            let hugeHeader = try site.https("/usage", ["--http1.1", "-H", "Authorization: " + String(repeating: "a", count: 20_000)])
            #expect(hugeHeader.status == 400, "\(hugeHeader)")
            #expect((try? hugeHeader.json())?["error"] as? String == "the request headers are too large", "\(hugeHeader)")
            let noSlash = try site.https("/conversation")
            #expect(noSlash.status == 404, "askd's 404, not nginx's 301 to /conversation/: \(noSlash)")
            #expect(noSlash.header("x-request-id") != nil, "askd answered: \(noSlash)")

            // What nginx refuses before any location: TRACE (405), a Transfer-Encoding other than
            // chunked (501, made a 400) and an HTTP version above 1.x (505, made a 400).
            for (request, status) in [
                ("TRACE /usage HTTP/1.1\r\nHost: \(DeploySite.hostName)\r\nConnection: close\r\n\r\n", 405),
                ("POST /ask HTTP/1.1\r\nHost: \(DeploySite.hostName)\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n", 400),
                ("GET /healthz HTTP/9.9\r\nHost: \(DeploySite.hostName)\r\nConnection: close\r\n\r\n", 400),
            ] {
                let answer = try site.rawHTTPS(request)
                #expect(answer.status == status, "\(request): \(answer.text)")
                #expect(answer.header("Content-Type")?.hasPrefix("application/json") == true, "\(request): \(answer.text)")
                #expect((try? answer.json())?["error"] is String, "\(request): \(answer.text)")
            }
        }

        /// /v1/ reaches askd with a limit of its own, and nginx's own errors there are OpenAI's shape.
        @Test func theOpenAIEndpointsAnswerThroughTheSite() throws {
            let site = try DeploySite()
            let created = try site.askdCommand(["token", "create", "--name", "sdk"])
            try #require(created.status == 0, "token create: \(created.stderr)")
            let auth = ["-H", "Authorization: Bearer \(created.stdout.trimmingCharacters(in: .whitespacesAndNewlines))", "-H", "Content-Type: application/json"]
            let answer = try site.https("/v1/chat/completions", auth + ["--data-binary", #"{"model":"echo","messages":[{"role":"user","content":"hi"}]}"#])
            try #require(answer.status == 200, "\(answer)\naskd: \(site.askdLog)")
            #expect(try answer.json()["object"] as? String == "chat.completion")
            let models = try site.https("/v1/models", auth)
            #expect(try models.status == 200 && (models.json()["object"] as? String) == "list", "\(models)")

            // Over /ask's 1 MiB but within /v1/'s 20 MiB: askd answers. Over 20 MiB: nginx's 413.
            let big = site.directory.appendingPathComponent("image.json").path
            let image = Data(#"{"model":"echo","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,"#.utf8)
                + Data(repeating: 0x41, count: 2 << 20) + Data(#""}}]}]}"#.utf8)
            try image.write(to: URL(fileURLWithPath: big))
            #expect(try site.https("/v1/chat/completions", auth + ["--data-binary", "@\(big)"]).status == 200)
            let huge = site.directory.appendingPathComponent("huge.json").path
            try Data(repeating: 0x20, count: 21 << 20).write(to: URL(fileURLWithPath: huge))
            let tooLarge = try site.https("/v1/chat/completions", auth + ["--data-binary", "@\(huge)"])
            #expect(tooLarge.status == 413, "\(tooLarge)")
            let error = try #require(try tooLarge.json()["error"] as? [String: Any], "\(tooLarge)")
            #expect(error["code"] as? String == "request_too_large" && error["param"] is NSNull && error["type"] as? String == "invalid_request_error")
            #expect(error["message"] as? String == "request body is too large")
            #expect(tooLarge.header("x-request-id") != nil, "nginx's own error carries a request id")
            let elsewhere = try site.https("/v1/responses", auth + ["--data-binary", "{}"])
            #expect(elsewhere.status == 404 && elsewhere.header("x-request-id") != nil, "askd's OpenAI-shaped 404: \(elsewhere)")
            #expect(try (elsewhere.json()["error"] as? [String: Any])?["code"] as? String == "unknown_url")
        }

        @Test func staticFilesAreServedFromTheStaticRootWithCaching() throws {
            let site = try DeploySite()
            let page = try site.https("/")
            #expect(page.status == 200)
            #expect(page.text.contains("askd static root"))
            #expect(page.header("content-type")?.hasPrefix("text/html") == true)
            #expect(page.header("cache-control") == "no-cache", "pages are revalidated")
            #expect(page.header("etag") != nil)

            let asset = try site.https("/app.css")
            #expect(asset.status == 200)
            #expect(asset.header("content-type")?.hasPrefix("text/css") == true)
            let maxAge = asset.header("cache-control")?.firstMatch(of: #/max-age=(\d+)/#).flatMap { Int($0.1) } ?? 0
            #expect(maxAge >= 86_400, "assets are cached: \(asset.header("cache-control") ?? "none")")

            let hidden = try site.https("/.env")
            #expect(hidden.status == 404)
            #expect(!hidden.text.contains("SECRET"))
            let missing = try site.https("/missing.html")
            #expect(missing.status == 404)
            #expect(try missing.json()["error"] as? String == "not found")
            #expect(!site.askdHasStarted, "static files never reach askd")
        }

        /// Exports, imports and share links reach askd; the public share reads have a zone of
        /// their own; /shared/{id} is the page that shows a share, whatever the id.
        @Test func exportsImportsAndSharesAreRoutedAndTheSharePageIsServed() throws {
            let site = try DeploySite()
            for (method, path) in [
                ("GET", "/conversations/export"), ("POST", "/conversations/import"), ("GET", "/shares"), ("DELETE", "/share/abc"),
                ("GET", "/conversation/abc/export"), ("POST", "/conversation/abc/share"),
            ] {
                let response = try site.https(path, ["-X", method])
                #expect(response.status == 401, "\(method) \(path): \(response)")
                #expect(response.header("x-request-id") != nil, "answered by askd: \(method) \(path)")
            }
            let unknown = try site.https("/s/AAAAAAAAAAAAAAAAAAAAAA")
            #expect(unknown.status == 404)
            #expect(try unknown.json()["error"] as? String == "share not found")
            #expect(site.siteText.contains("limit_req zone=askd_shares burst="), "/s/ has its own rate limit")
            let page = try site.https("/shared/AAAAAAAAAAAAAAAAAAAAAA")
            #expect(page.status == 200, "\(page)")
            #expect(page.header("content-type")?.hasPrefix("text/html") == true)
            #expect(page.text.contains("/shared.js?v="))
            #expect(page.header("cache-control") == "no-cache")
        }

        @Test func theWebChatPageFillsInWhatTheStaticRootDoesNotHold() throws {
            let site = try DeploySite()
            let versioned = try site.https("/app.js?v=0123456789")
            #expect(versioned.status == 200, "\(versioned)")
            #expect(versioned.header("content-type")?.hasPrefix("application/javascript") == true)
            let maxAge = versioned.header("cache-control")?.firstMatch(of: #/max-age=(\d+)/#).flatMap { Int($0.1) } ?? 0
            #expect(maxAge >= 31_536_000, "versioned assets are cached for good: \(versioned.header("cache-control") ?? "none")")
            #expect(try site.https("/app.js").header("cache-control") == "no-cache", "an unversioned asset is revalidated")
            for path in ["/javascript/marked/marked.min.js", "/javascript/dompurify/purify.min.js"] {
                let library = try site.https(path)
                #expect(library.status == 200, "\(path): Debian's library (libjs-marked, node-dompurify)")
                #expect(library.header("content-type")?.hasPrefix("application/javascript") == true, "\(path)")
            }
            // The operator's index.html wins; without one, / is the chat page.
            #expect(try site.https("/").text.contains("askd static root"))
            try FileManager.default.removeItem(at: site.directory.appendingPathComponent("www/index.html"))
            let page = try site.https("/")
            #expect(page.status == 200)
            #expect(page.text.contains("app.js?v="), "\(page.text.prefix(300))")
            #expect(page.header("cache-control") == "no-cache")
            let policy = page.header("content-security-policy") ?? ""
            for directive in ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:"] {
                #expect(policy.contains(directive), "\(directive) in \(policy)")
            }
            #expect(page.header("x-content-type-options") == "nosniff")
            #expect(page.header("referrer-policy") == "no-referrer")
            #expect(!site.askdHasStarted, "the page's files never reach askd")
        }

        @Test func reloadingNginxDuringTrafficKeepsAnswering() throws {
            let site = try DeploySite()
            try #require(try site.https("/healthz").status == 200, "askd: \(site.askdLog)")

            // Keep-alive HTTP/1.1 clients, a client opening a connection per request, and
            // keep-alive HTTP/2 clients, each sending 200 requests a second for 1.5 s, while
            // nginx reloads three times.
            let count = 300
            var clients: [(ChildProcess, String, String)] = []
            for (index, flags) in [["--http1.1"], ["--http1.1"], ["--http1.1", "-H", "Connection: close"], [], []].enumerated() {
                let output = site.directory.appendingPathComponent("reload-\(index).txt").path
                let kind = flags.contains("--http1.1") ? "HTTP/1.1" : "HTTP/2"
                let client = try site.launchBatch("/healthz", count: count, flags: flags + ["--rate", "200/s"], output: output)
                clients.append((client, output, kind))
            }
            for _ in 0..<3 {
                usleep(250_000)
                let reload = try site.nginx(["-s", "reload"])
                #expect(reload.status == 0, "\(reload.stderr)")
            }
            try waitUntil("nginx logs three reloads") { site.errorLog.components(separatedBy: "reconfiguring").count - 1 >= 3 }
            try #require(clients.allSatisfy { $0.0.isRunning }, "the traffic must last beyond the reloads")
            var answers: [String: [Int]] = [:]
            for (client, output, kind) in clients {
                #expect(client.waitForExit(within: 60) != nil, "a client hung")
                let codes = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").compactMap { Int($0) }
                #expect(codes.count == count, "\(kind): \(codes.count) answers")
                answers[kind, default: []] += codes
            }
            #expect(answers["HTTP/1.1", default: []].allSatisfy { $0 == 200 }, "HTTP/1.1: \(Self.tally(answers["HTTP/1.1"]))")
            // HTTP/2: an old worker closes idle connections at once, and a request sent at that
            // instant meets a reset (0 here: no HTTP status). But every answer is a 200: reloads
            // never make nginx or askd fail a request they took.
            let http2 = answers["HTTP/2", default: []]
            #expect(http2.allSatisfy { $0 == 200 || $0 == 0 }, "HTTP/2: \(Self.tally(http2))")
            #expect(http2.filter { $0 == 200 }.count >= http2.count * 9 / 10, "HTTP/2: \(Self.tally(http2))")

            #expect(try site.https("/healthz").status == 200, "after the reloads")
            #expect(site.askd.isRunning, "askd kept serving through the reloads")
            #expect(!site.askdLog.contains(" error "), "\(site.askdLog.suffix(2000))")
        }

        // MARK: systemd

        @Test func theUnitsPassSystemdAnalyzeVerify() throws {
            let directory = try DeployFiles.temporaryDirectory("askd-units")
            defer { try? FileManager.default.removeItem(at: directory) }
            var paths: [String] = []
            for name in ["askd.socket", "askd.service", "askd@.service", "askd@2.service"] {
                let source = name == "askd@2.service" ? "askd@.service" : name
                let text = try DeployFiles.text("deploy/systemd/\(source)")
                    .replacingOccurrences(of: "ExecStart=/usr/bin/askd ", with: "ExecStart=\(Stack.askdBinary) ")
                let path = directory.appendingPathComponent(name).path
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                paths.append(path)
            }
            let problems = try DeployFiles.verify(paths)
            #expect(problems.isEmpty, "\(problems)")

            // The check can fail: a unit with a mistake in it does not pass.
            let broken = directory.appendingPathComponent("askd.service").path
            try (try String(contentsOfFile: broken, encoding: .utf8))
                .replacingOccurrences(of: "StandardInput=socket", with: "StandardInput=sockt")
                .write(toFile: broken, atomically: true, encoding: .utf8)
            #expect(try !DeployFiles.verify([paths[0], broken]).isEmpty)
        }

        @Test func theServiceIsRatedTwoOrLowerBySystemdAnalyzeSecurity() throws {
            for unit in ["deploy/systemd/askd.service", "deploy/systemd/askd@.service"] {
                let level = try DeployFiles.exposure(Stack.repository.appendingPathComponent(unit).path)
                #expect(level <= 2.0, "\(unit): exposure \(level)")
            }
            // The parse is not vacuous: a unit without the hardening rates far worse.
            let directory = try DeployFiles.temporaryDirectory("askd-bare")
            defer { try? FileManager.default.removeItem(at: directory) }
            let bare = directory.appendingPathComponent("bare.service").path
            try "[Service]\nExecStart=/usr/bin/askd serve\n".write(toFile: bare, atomically: true, encoding: .utf8)
            #expect(try DeployFiles.exposure(bare) > 5)
        }

        @Test func theUnitsTheSiteAndTheHelperAgree() throws {
            let socket = try UnitFile(DeployFiles.text("deploy/systemd/askd.socket"))
            #expect(socket["Socket", "ListenStream"] == ["/run/askd/askd.sock"])
            #expect(socket["Socket", "SocketUser"] == ["root"])
            #expect(socket["Socket", "SocketGroup"] == ["www-data"])
            #expect(socket["Socket", "SocketMode"] == ["0660"])
            #expect(try DeployFiles.text("deploy/nginx.conf").contains("server unix:/run/askd/askd.sock;"))

            let service = try UnitFile(DeployFiles.text("deploy/systemd/askd.service"))
            #expect(service["Service", "StandardInput"] == ["socket"])
            #expect(service["Service", "StandardOutput"] == ["journal"])
            #expect(service["Service", "StandardError"] == ["journal"])
            #expect(service["Service", "EnvironmentFile"] == ["-/etc/askd/askd.env"])
            #expect(service["Service", "DynamicUser"] == ["yes"])
            #expect(service["Service", "StateDirectory"] == ["askd"])
            #expect(service["Service", "Environment"] == [
                "ASKD_DATABASE=/var/lib/askd/askd.sqlite", "ASKD_METRICS_SOCKET=/run/askd-metrics/1/askd.sock ASKD_SOCKET_MODE=0666",
            ])
            #expect(service["Service", "RuntimeDirectory"] == ["askd-metrics/1"])
            #expect(service["Service", "Restart"] == ["on-failure"])
            let execStart = try #require(service["Service", "ExecStart"].first)
            #expect(!execStart.contains("--socket") && !execStart.contains("--listen"), "askd must serve the inherited socket")
            // askd drains for 30 s by default; systemd must wait longer before SIGKILL.
            let timeout = try #require(service["Service", "TimeoutStopSec"].first.flatMap(UnitFile.seconds))
            #expect(timeout > 30)

            // askd@.service is askd.service plus Sockets=: the same [Service] otherwise, where
            // askd.service is process 1 (its metrics socket).
            let template = try UnitFile(DeployFiles.text("deploy/systemd/askd@.service"))
            #expect(template["Service", "Sockets"] == ["askd.socket"])
            let ignored: Set<String> = ["Sockets", "SyslogIdentifier"]
            #expect(
                template.entries("Service").filter { !ignored.contains($0.key) }
                    .map { "\($0.key)=\($0.value.replacingOccurrences(of: "%i", with: "1"))" }
                    == service.entries("Service").filter { !ignored.contains($0.key) }.map { "\($0.key)=\($0.value)" }
            )

            // The example environment file names only settings askd reads (as found in
            // Sources/), or libpq reads for it, and never the ones that would make askd open a
            // socket of its own.
            var read: Set<String> = ["PGPASSFILE", "PGPASSWORD", "PGSSLROOTCERT", "PGCONNECT_TIMEOUT"]
            let sources = Stack.repository.appendingPathComponent("Sources")
            for case let file as URL in FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
            where file.pathExtension == "swift" {
                let text = try String(contentsOf: file, encoding: .utf8)
                read.formUnion(text.matches(of: #/"((?:ASKD|OPENAI)_[A-Z0-9_]+)"/#).map { String($0.1) })
            }
            let example = try DeployFiles.text("deploy/askd.env.example")
            let named = Set(example.split(separator: "\n").compactMap { line in
                line.firstMatch(of: #/^#?([A-Z][A-Z0-9_]*)=/#).map { String($0.1) }
            })
            #expect(named.subtracting(read).isEmpty, "not read by askd: \(named.subtracting(read))")
            #expect(named.isDisjoint(with: ["ASKD_SOCKET", "ASKD_LISTEN", "ASKD_SOCKET_MODE", "ASKD_SOCKET_GROUP", "ASKD_TEST_ROUTES"]))
            #expect(named.isSuperset(of: ["OPENAI_API_KEY", "ASKD_THREADS", "ASKD_DRAIN_SECONDS", "ASKD_MAX_BODY_BYTES", "ASKD_DATABASE"]))
            #expect(!example.split(separator: "\n").contains { !$0.hasPrefix("#") && $0.contains("=") }, "all commented out")
        }

        /// The site and the dev stack hand askd the same FastCGI params: the ones askd reads
        /// (request headers come as HTTP_* besides), with HTTP_PROXY blanked (httpoxy).
        @Test func theSiteAndTheDevStackSendAskdTheSameParams() throws {
            func params(_ path: String) throws -> [String: String] {
                var found: [String: String] = [:]
                for line in try DeployFiles.text(path).split(separator: "\n") {
                    let words = line.split(separator: " ", omittingEmptySubsequences: true)
                    guard words.count >= 3, words[0] == "fastcgi_param" else { continue }
                    found[String(words[1])] = String(words[2].hasSuffix(";") ? words[2].dropLast() : words[2])
                }
                return found
            }
            let site = try params("deploy/nginx.conf")
            #expect(site == (try params("dev/askd_fastcgi.conf")))
            #expect(Set(site.keys) == [
                "REQUEST_METHOD", "REQUEST_URI", "DOCUMENT_URI", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
                "REMOTE_ADDR", "HTTP_HOST", "HTTP_PROXY", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
            ])
            #expect(site["HTTP_PROXY"] == "\"\"")
            #expect(site["HTTP_HOST"] == "$host")
            #expect(site["HTTP_X_FORWARDED_PROTO"] == "$scheme")
            #expect(site["HTTP_X_FORWARDED_HOST"] == "$http_host")
        }

        /// The bench and the tests measure the dev stack; the site must keep as many idle
        /// connections to askd, and enough for the concurrency both see (50 in `make bench`):
        /// a smaller pool makes nginx close and reopen connections to askd all the time.
        @Test func theSiteAndTheDevStackKeepAsManyConnectionsToAskd() throws {
            func keepalive(_ path: String) throws -> [Int] {
                try DeployFiles.text(path).split(separator: "\n").compactMap { line -> Int? in
                    let words = line.split(separator: " ", omittingEmptySubsequences: true)
                    guard words.count == 2, words[0] == "keepalive", words[1].hasSuffix(";") else { return nil }
                    return Int(words[1].dropLast())
                }
            }
            let site = try keepalive("deploy/nginx.conf")
            #expect(site.count == 1)
            #expect(site == (try keepalive("dev/nginx.conf.in")))
            #expect(site.allSatisfy { $0 >= 64 })
        }

        @Test func askdAdminRunsAskdWithTheServicesIdentityAndDatabase() throws {
            let directory = try DeployFiles.temporaryDirectory("askd-admin")
            defer { try? FileManager.default.removeItem(at: directory) }
            // A stand-in for systemd-run that records its arguments, one a line.
            let record = directory.appendingPathComponent("arguments").path
            let fake = directory.appendingPathComponent("systemd-run")
            try "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '\(record)'\nexit 3\n"
                .write(to: fake, atomically: true, encoding: .utf8)
            chmod(fake.path, 0o755)
            let path = directory.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
            let result = try Stack.run(
                Stack.repository.appendingPathComponent("deploy/askd-admin").path, ["token", "create", "--name", "two words"],
                environment: ["PATH": path, "ASKD_BIN": "/usr/bin/askd"]
            )
            #expect(result.status == 3, "the exit status is passed through: \(result.stderr)")
            let arguments = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
                .dropLast().map(String.init)
            #expect(Array(arguments.suffix(5)) == ["/usr/bin/askd", "token", "create", "--name", "two words"])
            for flag in ["--pipe", "--wait", "--collect"] { #expect(arguments.contains(flag), "\(flag)") }
            let properties = zip(arguments, arguments.dropFirst()).filter { $0.0 == "-p" }.map(\.1)

            // The same identity, state directory, database and settings as askd.service.
            let service = try UnitFile(DeployFiles.text("deploy/systemd/askd.service"))
            for key in ["DynamicUser", "User", "Group", "StateDirectory", "StateDirectoryMode", "UMask", "EnvironmentFile", "Environment"] {
                // The metrics socket is for `askd serve` alone; the admin commands need the database.
                let expected = service["Service", key].filter { !$0.hasPrefix("ASKD_METRICS_SOCKET=") }.map { "\(key)=\($0)" }
                #expect(!expected.isEmpty && expected.allSatisfy(properties.contains), "\(key): \(properties)")
            }
        }

        static func tally(_ codes: [Int]?) -> String {
            Dictionary(grouping: codes ?? [], by: { $0 }).map { "\($0.key): \($0.value.count)" }.sorted().joined(separator: ", ")
        }
    }
}

// MARK: - The deployed site, for real

/// deploy/nginx.conf, with its paths moved into a temp folder and its ports onto free loopback
/// ports, inside an http block like Debian 12's /etc/nginx/nginx.conf, in front of the real askd,
/// which starts as systemd starts it: on the first connection to a socket made beforehand
/// (srw-rw---- root www-data), handed over on standard input (`StandardInput=socket`), with the
/// command line of askd.service's ExecStart.
private final class DeploySite {
    static let hostName = "askd.example.com"

    let directory: URL
    let httpPort: UInt16
    let httpsPort: UInt16
    let siteText: String
    private(set) var askd: ChildProcess!
    private var nginxProcess: ChildProcess?

    init(start: Bool = true) throws {
        siteText = try DeployFiles.text("deploy/nginx.conf")
        httpPort = try FreePort.find()
        var port = try FreePort.find()
        while port == httpPort { port = try FreePort.find() }
        httpsPort = port
        directory = try DeployFiles.temporaryDirectory("askd-deploy")
        do {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("tmp"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("letsencrypt"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("metrics/1"), withIntermediateDirectories: true)
            try makeStaticRoot()
            try makeCertificate()
            for file in ["mime.types"] {
                try FileManager.default.copyItem(atPath: "/etc/nginx/\(file)", toPath: directory.appendingPathComponent(file).path)
            }
            try render(site: siteText).write(to: directory.appendingPathComponent("site.conf"), atomically: true, encoding: .utf8)
            try mainConfiguration().write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
            if start { try self.start() }
        } catch {
            cleanUp()
            throw error
        }
    }

    deinit { cleanUp() }

    private func cleanUp() {
        nginxProcess?.signal(SIGQUIT)
        askd?.signal(SIGTERM)
        if nginxProcess?.waitForExit(within: 5) == nil { nginxProcess?.signal(SIGKILL) }
        if askd?.waitForExit(within: 5) == nil { askd?.signal(SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }

    var socketPath: String { directory.appendingPathComponent("askd.sock").path }
    var askdLog: String { (try? String(contentsOfFile: directory.appendingPathComponent("askd.log").path, encoding: .utf8)) ?? "" }
    var errorLog: String { (try? String(contentsOfFile: directory.appendingPathComponent("error.log").path, encoding: .utf8)) ?? "" }

    /// Whether the activator has handed the socket to askd yet (it execs askd in place).
    var askdHasStarted: Bool {
        guard let askd else { return false }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(askd.pid)/exe")) ?? ""
        return exe == URL(fileURLWithPath: Stack.askdBinary).resolvingSymlinksInPath().path
    }

    // MARK: Setting up

    private func makeStaticRoot() throws {
        let www = directory.appendingPathComponent("www")
        try FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
        try "<!doctype html><title>askd</title><p>askd static root</p>\n".write(
            to: www.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        try "body { font-family: sans-serif; }\n".write(to: www.appendingPathComponent("app.css"), atomically: true, encoding: .utf8)
        try "SECRET=do-not-serve\n".write(to: www.appendingPathComponent(".env"), atomically: true, encoding: .utf8)
    }

    private func makeCertificate() throws {
        let result = try Stack.run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=\(Self.hostName)", "-addext", "subjectAltName=DNS:\(Self.hostName)",
            "-keyout", directory.appendingPathComponent("privkey.pem").path,
            "-out", directory.appendingPathComponent("fullchain.pem").path,
        ])
        try #require(result.status == 0, "openssl: \(result.stderr)")
    }

    /// The site with production paths moved here; every path it names must be one we know.
    private func render(site: String) throws -> String {
        let live = "/etc/letsencrypt/live/\(Self.hostName)"
        let replacements: [(String, String)] = [
            ("listen 80;", "listen 127.0.0.1:\(httpPort);"),
            ("listen 443 ssl http2;", "listen 127.0.0.1:\(httpsPort) ssl http2;"),
            ("listen [::]:80;", ""),
            ("listen [::]:443 ssl http2;", ""),
            ("unix:/run/askd/askd.sock", "unix:\(socketPath)"),
            ("unix:/run/askd-metrics/", "unix:\(directory.path)/metrics/"),
            ("/var/www/askd;", directory.appendingPathComponent("www").path + ";"),
            ("/usr/share/askd/web;", Stack.repository.appendingPathComponent("web").path + ";"),
            ("/var/www/letsencrypt;", directory.appendingPathComponent("letsencrypt").path + ";"),
            ("\(live)/fullchain.pem", directory.appendingPathComponent("fullchain.pem").path),
            ("\(live)/privkey.pem", directory.appendingPathComponent("privkey.pem").path),
            ("\(live)/chain.pem", directory.appendingPathComponent("fullchain.pem").path),
            ("/var/log/nginx/askd.access.log", directory.appendingPathComponent("askd.access.log").path),
            ("/var/log/nginx/askd.error.log", directory.appendingPathComponent("error.log").path + " notice"),
        ]
        var text = site
        for (old, new) in replacements {
            try #require(text.contains(old), "deploy/nginx.conf no longer contains \(old)")
            text = text.replacingOccurrences(of: old, with: new)
        }
        let directives = text.split(separator: "\n").map { $0.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0] }
        for leftover in ["/run/", "/var/", "/etc/", " 80;", " 443 "] {
            let line = directives.first { $0.contains(leftover) }
            try #require(line == nil, "deploy/nginx.conf has a path or port the test does not move: \(line ?? "")")
        }
        return text
    }

    /// Debian 12's /etc/nginx/nginx.conf, with its paths here and the site as the only one. No
    /// dynamic modules: the site needs none, and their paths are relative to nginx's prefix.
    private func mainConfiguration() -> String {
        let path = directory.path
        // As root, workers run as www-data, as on Debian: they reach the socket through its group.
        let user = getuid() == 0 ? "user www-data;" : ""
        return """
            \(user)
            worker_processes 2;
            pid \(path)/nginx.pid;
            error_log \(path)/error.log notice;
            events {
                worker_connections 768;
            }
            http {
                sendfile on;
                tcp_nopush on;
                types_hash_max_size 2048;
                include mime.types;
                default_type application/octet-stream;
                ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
                ssl_prefer_server_ciphers on;
                access_log \(path)/access.log;
                gzip on;
                client_body_temp_path \(path)/tmp/client_body;
                fastcgi_temp_path \(path)/tmp/fastcgi;
                proxy_temp_path \(path)/tmp/proxy;
                uwsgi_temp_path \(path)/tmp/uwsgi;
                scgi_temp_path \(path)/tmp/scgi;
                include site.conf;
            }

            """
    }

    /// What systemd does for askd.socket + askd.service: the socket first, askd on the first
    /// connection, the socket on its standard input.
    private static let activator = """
        import grp, os, select, socket, sys
        path, group, ready = sys.argv[1:4]
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        if group:
            os.chown(path, 0, grp.getgrnam(group).gr_gid)   # SocketUser=root, SocketGroup=www-data
        os.chmod(path, 0o660)                               # SocketMode=0660
        listener.listen(4096)
        open(ready, "w").close()
        select.select([listener], [], [])
        os.dup2(listener.fileno(), 0)                       # StandardInput=socket
        os.execv(sys.argv[4], sys.argv[4:])
        """

    func start() throws {
        let service = try UnitFile(DeployFiles.text("deploy/systemd/askd.service"))
        var command = try #require(service["Service", "ExecStart"].first).split(separator: " ").map(String.init)
        try #require(command.first == "/usr/bin/askd", "ExecStart runs /usr/bin/askd")
        command[0] = Stack.askdBinary
        let ready = directory.appendingPathComponent("socket-ready").path
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
        askd = try Stack.launch(
            python, ["-c", Self.activator, socketPath, getuid() == 0 ? "www-data" : "", ready] + command,
            environment: askdEnvironment, log: directory.appendingPathComponent("askd.log").path
        )
        try waitUntil("the socket listens") { FileManager.default.fileExists(atPath: ready) || !askd.isRunning }
        try #require(askd.isRunning, "the activator failed: \(askdLog)")

        let check = try nginx(["-t", "-q"])
        try #require(check.status == 0, "nginx -t: \(check.stderr)")
        nginxProcess = try Stack.launch(
            Stack.nginxBinary, nginxArguments + ["-g", "daemon off;"], log: directory.appendingPathComponent("nginx.out").path
        )
        // Port 80 answers without involving askd, which must wait for the first API request.
        try waitUntil("nginx answers on port 80") { (try? http("/"))?.status == 301 || nginxProcess?.isRunning == false }
        try #require(nginxProcess?.isRunning == true, "nginx stopped: \(errorLog)")
    }

    /// What askd.service and askd-admin give askd here: one database, and no model API.
    var askdEnvironment: [String: String] {
        [
            "ASKD_DATABASE": directory.appendingPathComponent("askd.sqlite").path,
            "ASKD_THREADS": "16",
            "ASKD_DRAIN_SECONDS": "2",
            "ASKD_PROVIDER": "echo",
            "OPENAI_API_KEY": "",
            "OPENAI_BASE_URL": "",
            // As askd.service sets them (its RuntimeDirectory is made in `init`).
            "ASKD_METRICS_SOCKET": directory.appendingPathComponent("metrics/1/askd.sock").path,
            "ASKD_SOCKET_MODE": "0666",
        ]
    }

    /// Runs an askd command, such as `token create`, on the served database, as askd-admin does.
    func askdCommand(_ arguments: [String]) throws -> (status: Int32, stderr: String, stdout: String) {
        try Stack.run(Stack.askdBinary, arguments, environment: askdEnvironment)
    }

    private var nginxArguments: [String] {
        ["-p", directory.path, "-e", directory.appendingPathComponent("error.log").path,
         "-c", directory.appendingPathComponent("nginx.conf").path]
    }

    /// Runs the nginx binary on this configuration (`-t`, `-s reload`, ...).
    func nginx(_ arguments: [String]) throws -> (status: Int32, stderr: String, stdout: String) {
        try Stack.run(Stack.nginxBinary, nginxArguments + arguments)
    }

    // MARK: Clients (curl)

    func httpsURL(_ path: String) -> String { "https://\(Self.hostName):\(httpsPort)\(path)" }

    private var resolve: [String] {
        ["--resolve", "\(Self.hostName):\(httpsPort):127.0.0.1", "--resolve", "\(Self.hostName):\(httpPort):127.0.0.1"]
    }

    /// curl with the test's certificate accepted and the host name resolved to 127.0.0.1.
    func curl(_ arguments: [String]) throws -> (status: Int32, stderr: String, stdout: String) {
        try Stack.run("/usr/bin/curl", ["-sS", "-k", "--max-time", "20"] + resolve + arguments, timeout: 30)
    }

    func https(_ path: String, _ arguments: [String] = []) throws -> CurlResponse {
        try fetch(httpsURL(path), arguments)
    }

    func http(_ path: String, _ arguments: [String] = []) throws -> CurlResponse {
        try fetch("http://\(Self.hostName):\(httpPort)\(path)", arguments)
    }

    /// `request` sent as it is over TLS (HTTP/1.1), for what curl will not send; the answer.
    func rawHTTPS(_ request: String) throws -> HTTPResponse {
        let script = """
            import socket, ssl, sys
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname=sys.argv[2]) as tls:
                    tls.sendall(sys.argv[3].encode())
                    answer = b""
                    while chunk := tls.recv(65536):
                        answer += chunk
            sys.stdout.buffer.write(answer)
            """
        let result = try Stack.run("/usr/bin/python3", ["-c", script, String(httpsPort), Self.hostName, request])
        try #require(result.status == 0, "\(result.stderr)")
        return try Connection.parse(Array(result.stdout.utf8))
    }

    private func fetch(_ url: String, _ arguments: [String]) throws -> CurlResponse {
        let output = directory.appendingPathComponent("response-\(UUID().uuidString.prefix(8))").path
        defer { unlink(output) }
        let result = try curl(["-i", "-o", output, "-w", "%{http_version}"] + arguments + [url])
        guard result.status == 0 else { throw ClientError("curl \(url) failed (\(result.status)): \(result.stderr)") }
        return try CurlResponse(Data(contentsOf: URL(fileURLWithPath: output)), httpVersion: result.stdout)
    }

    /// A curl config that fetches `paths` in turn, `count` times in all, over one connection
    /// (per client), each response into its own file when `responses` is given.
    private func batchConfig(_ paths: [String], count: Int, responses: String?) throws -> String {
        var config = ""
        for index in 0..<count {
            config += "url = \"\(httpsURL(paths[index % paths.count]))\"\n"
            config += "output = \"\(responses.map { "\($0)/\(index)" } ?? "/dev/null")\"\n"
        }
        let file = directory.appendingPathComponent("batch-\(UUID().uuidString.prefix(8)).curlrc").path
        try config.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Fetches `paths` in turn, `count` times in all, as fast as one client can; every response.
    func httpsBatch(_ paths: [String], count: Int) throws -> [CurlResponse] {
        let responses = directory.appendingPathComponent("batch-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: responses, withIntermediateDirectories: true)
        let config = try batchConfig(paths, count: count, responses: responses.path)
        let result = try curl(["-i", "-K", config, "-w", "%{http_version}\n"])
        try #require(result.status == 0, "curl: \(result.stderr)")
        let versions = result.stdout.split(separator: "\n").map(String.init)
        return try (0..<count).map { index in
            try CurlResponse(
                Data(contentsOf: responses.appendingPathComponent("\(index)")),
                httpVersion: index < versions.count ? versions[index] : "")
        }
    }

    /// Starts a client fetching `path` `count` times; it writes one status a line to `output`
    /// (0 where no answer came).
    func launchBatch(_ path: String, count: Int, flags: [String], output: String) throws -> ChildProcess {
        let config = try batchConfig([path], count: count, responses: nil)
        return try Stack.launch(
            "/usr/bin/curl", ["-s", "-k", "--max-time", "30"] + resolve + flags + ["-K", config, "-w", "%{http_code}\n"], log: output)
    }
}

/// One response as `curl -i` wrote it.
private struct CurlResponse: CustomStringConvertible {
    let status: Int
    let httpVersion: String
    let headers: [(name: String, value: String)]
    let body: Data

    init(_ data: Data, httpVersion: String) throws {
        var bytes = [UInt8](data)
        let separator: [UInt8] = [13, 10, 13, 10]
        var lines: [String] = []
        var status = 100
        while status == 100 {  // skip a "100 Continue" head
            guard let end = (0..<max(bytes.count - 3, 0)).first(where: { Array(bytes[$0..<($0 + 4)]) == separator }) else {
                throw ClientError("no response head in \(String(decoding: bytes, as: UTF8.self))")
            }
            lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
            let statusParts = lines[0].split(separator: " ")
            guard statusParts.count >= 2, let code = Int(statusParts[1]) else { throw ClientError("bad status line \(lines[0])") }
            status = code
            bytes = Array(bytes[(end + 4)...])
        }
        self.status = status
        self.httpVersion = httpVersion
        headers = lines.dropFirst().compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        body = Data(bytes)
    }

    func header(_ name: String) -> String? {
        headers.first { $0.name == name.lowercased() }?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw ClientError("body is not a JSON object: \(text)")
        }
        return object
    }

    var description: String {
        "HTTP/\(httpVersion) \(status) " + headers.map { "\($0.name): \($0.value)" }.joined(separator: "; ") + " | \(text.prefix(300))"
    }
}

// MARK: - The files under deploy/, and systemd-analyze

private enum DeployFiles {
    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: Stack.repository.appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// A fresh folder that nginx's workers (www-data) can enter.
    static func temporaryDirectory(_ prefix: String) throws -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        return url
    }

    /// `systemd-analyze verify` on unit files: what it says about them (nothing, if all is well).
    static func verify(_ paths: [String]) throws -> [String] {
        let result = try Stack.run("/usr/bin/systemd-analyze", ["verify", "--man=no"] + paths, timeout: 30)
        let said = (result.stderr + result.stdout).split(separator: "\n").map(String.init)
        let aboutOurs = said.filter { $0.contains("askd") }
        return result.status == 0 ? aboutOurs : ["exit \(result.status)"] + said
    }

    /// The "Overall exposure level" that `systemd-analyze security --offline=yes` gives a unit file.
    static func exposure(_ path: String) throws -> Double {
        let result = try Stack.run("/usr/bin/systemd-analyze", ["security", "--offline=yes", "--no-pager", path], timeout: 30)
        let match = try #require(
            result.stdout.firstMatch(of: #/Overall exposure level for \S+: (\d+(?:\.\d+)?)/#),
            "no exposure level in: \(result.stdout) \(result.stderr)"
        )
        return try #require(Double(match.1))
    }
}

/// A systemd unit file: sections of `Key=value` entries in order (no line continuations).
private struct UnitFile {
    private var sections: [String: [(key: String, value: String)]] = [:]

    init(_ text: String) throws {
        var section = ""
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                section = String(line.dropFirst().dropLast())
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { throw ClientError("not Key=value: \(line)") }
            try #require(!line.hasSuffix("\\"), "line continuations are not supported here: \(line)")
            sections[section, default: []].append((String(line[..<equals]), String(line[line.index(after: equals)...])))
        }
    }

    subscript(section: String, key: String) -> [String] {
        entries(section).filter { $0.key == key }.map(\.value)
    }

    func entries(_ section: String) -> [(key: String, value: String)] {
        sections[section] ?? []
    }

    /// A systemd time span such as `45`, `45s`, `1min 30s` or `2min`, in seconds.
    static func seconds(_ text: String) -> Double? {
        var total = 0.0
        for part in text.split(separator: " ") {
            guard let match = part.firstMatch(of: #/^(\d+(?:\.\d+)?)(s|sec|m|min|h)?$/#), let value = Double(match.1) else { return nil }
            switch match.2 {
            case "m", "min": total += value * 60
            case "h": total += value * 3600
            default: total += value
            }
        }
        return total
    }
}
