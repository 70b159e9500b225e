import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// Token limits through nginx, with two askd processes sharing one store (a SQLite file, or
    /// a PostgreSQL database as two hosts would): the limits hold in total, not per process, the
    /// headers come on plain and streamed answers, and parallel slots come back after a
    /// cancelled stream, an upstream error and a kill -9.
    @Suite struct TokenLimitsThroughNginx {
        enum Backend: String, CaseIterable, CustomTestStringConvertible {
            case sqlite, postgres
            var testDescription: String { rawValue }

            /// The environment of askd for this backend (a fresh database for PostgreSQL).
            func environment() throws -> [String: String] {
                self == .postgres ? ["ASKD_DATABASE": try PostgresCluster.shared.createDatabase()] : [:]
            }
        }

        private func token(_ stack: Stack, _ name: String, _ flags: [String]) throws -> String {
            let result = try Stack.run(Stack.askdBinary, ["token", "create", "--name", name] + flags, environment: ["ASKD_DATABASE": stack.database])
            try #require(result.status == 0, "token create failed: \(result.stderr)")
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        private func askBytes(_ token: String, _ body: String) -> [UInt8] {
            HTTPClient.requestBytes(
                "POST", "/ask", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")], body: Array(body.utf8)
            )
        }

        /// A request straight to one askd's socket, so that the test picks the process.
        private func ask(host socket: String, token: String, _ body: String, path: String = "/ask", method: String = "POST") throws
            -> (status: Int, head: String, json: [String: Any])
        {
            let client = try FastCGIClient(socketPath: socket)
            let bytes = Array(body.utf8)
            try client.send(params: [
                ("REQUEST_METHOD", method), ("REQUEST_URI", path), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", String(bytes.count)), ("HTTP_AUTHORIZATION", "Bearer \(token)"),
            ], stdin: bytes, keepConnection: false)
            let response = try client.readResponse()
            let status = Int(response.dropFirst("Status: ".count).prefix(3)) ?? 0
            let parts = response.components(separatedBy: "\r\n\r\n")
            let json = (try? JSONSerialization.jsonObject(with: Data(parts.dropFirst().joined(separator: "\r\n\r\n").utf8)) as? [String: Any]) ?? [:]
            return (status, parts.first?.lowercased() ?? "", json)
        }

        /// A request sent to one askd's socket and left waiting for its answer.
        private func start(host socket: String, token: String, _ body: String) throws -> FastCGIClient {
            let client = try FastCGIClient(socketPath: socket)
            let bytes = Array(body.utf8)
            try client.send(params: [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/ask"), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", String(bytes.count)), ("HTTP_AUTHORIZATION", "Bearer \(token)"),
            ], stdin: bytes, keepConnection: false)
            return client
        }

        @Test(arguments: Backend.allCases)
        func aBurstOverTwoProcessesGetsExactlyTheLimitWithHeadersOnEveryAnswer(backend: Backend) throws {
            let stack = try Stack(environment: try backend.environment().merging(["ASKD_MODELS": "echo,other"]) { $1 }, hosts: 2)
            let limited = try token(stack, "limited", ["--rpm", "10"])
            let answers = try Connection.allAtOnce(port: stack.port, (0..<50).map { askBytes(limited, #"{"prompt":"burst \#($0)"}"#) })
            #expect(answers.filter { $0.status == 200 }.count == 10, "\(answers.map(\.status))")
            let refused = answers.filter { $0.status == 429 }
            #expect(refused.count == 40)
            for answer in refused {
                #expect(try answer.json()["error"] as? String == "rate limit reached: 10 requests per minute")
                #expect(Int(answer.header("Retry-After") ?? "").map { (1...61).contains($0) } == true)
                #expect(answer.header("x-ratelimit-remaining-requests") == "0")
            }
            for answer in answers where answer.status == 200 {
                #expect(answer.header("x-ratelimit-limit-requests") == "10")
                #expect(answer.header("x-ratelimit-reset-requests")?.hasSuffix("s") == true)
            }
            #expect(stack.hostLogs.allSatisfy { $0.contains("path=/ask status=") }, "nginx spread the burst over both processes")
            let usage = try ask(host: stack.hostSockets[1], token: limited, "", path: "/usage", method: "GET")
            #expect((usage.json["limits"] as? [String: Any])?["rpm"] as? Int == 10)
            #expect((usage.json["remaining"] as? [String: Any])?["requests"] as? Int == 0)
            #expect((usage.json["today"] as? [String: Any])?["requests"] as? Int == 10, "askd's own 429s do not count")

            // A stream's 200 carries them before its first event; the model's allow-list is a 403.
            let streamed = try token(stack, "streamed", ["--rpm", "5", "--tpm", "100000", "--models", "echo"])
            let stream = try EventStreamClient(port: stack.port, token: streamed, body: #"{"prompt":"hi","stream":true}"#)
            let head = try stream.head().lowercased()
            #expect(head.contains("200 ok"))
            #expect(head.contains("x-ratelimit-limit-requests: 5"))
            #expect(head.contains("x-ratelimit-remaining-requests: 4"))
            #expect(head.contains("x-ratelimit-limit-tokens: 100000"))
            #expect(try stream.readAll().last?.event == "done")
            let forbidden = try stack.client.request(
                "POST", "/ask", headers: [("Authorization", "Bearer \(streamed)"), ("Content-Type", "application/json")],
                body: Array(#"{"prompt":"hi","model":"other"}"#.utf8)
            )
            #expect(forbidden.status == 403)
            #expect(try forbidden.json()["error"] as? String == "model not allowed for this token")
            #expect(forbidden.header("x-ratelimit-remaining-requests") == "4", "a 403 does not count")

            // The day's quota: used up after one answer, then refused for good until midnight UTC.
            let daily = try token(stack, "daily", ["--tokens-per-day", "5"])
            #expect(try stack.client.request("POST", "/ask", headers: [("Authorization", "Bearer \(daily)")], body: Array(#"{"prompt":"one two three"}"#.utf8)).status == 200)
            let spent = try stack.client.request("POST", "/ask", headers: [("Authorization", "Bearer \(daily)")], body: Array(#"{"prompt":"again"}"#.utf8))
            #expect(spent.status == 429)
            #expect(try spent.json()["error"] as? String == "daily token quota exhausted")
            #expect(spent.header("x-should-retry") == "false")
            #expect(Int(spent.header("Retry-After") ?? "").map { $0 >= 1 && $0 <= 86_400 } == true)
        }

        /// A busy token is admitted from reservations of several requests (`AllowanceBroker`):
        /// never past the limit, each process holding at most a 16th of the room unused, and
        /// once a second is over, what was not used is back in the store.
        @Test(arguments: Backend.allCases)
        func aBusyTokensReservationsNeverAdmitPastTheLimitAndComeBack(backend: Backend) throws {
            let stack = try Stack(environment: try backend.environment(), hosts: 2)
            let busy = try token(stack, "busy", ["--rpm", "200", "--max-parallel", "5000"])
            let answers = try Connection.allAtOnce(port: stack.port, (0..<320).map { askBytes(busy, #"{"prompt":"busy \#($0)"}"#) }, timeoutSeconds: 30)
            let admitted = answers.filter { $0.status == 200 }.count
            #expect(answers.allSatisfy { $0.status == 200 || $0.status == 429 }, "\(Set(answers.map(\.status)))")
            #expect(admitted <= 200, "never past the limit: \(admitted)")
            #expect(admitted >= 200 - 2 * (200 / 16), "at most a 16th of the room held unused by each process: \(admitted)")
            usleep(1_500_000)
            for socket in stack.hostSockets {
                let usage = try ask(host: socket, token: busy, "", path: "/usage", method: "GET")
                let remaining = usage.json["remaining"] as? [String: Any]
                #expect(remaining?["requests"] as? Int == 200 - admitted, "every process counts exactly the answers given: \(usage.json)")
                #expect(remaining?["parallel"] as? Int == 5000, "every slot came back")
                #expect((usage.json["today"] as? [String: Any])?["requests"] as? Int == admitted)
            }
        }

        @Test(arguments: Backend.allCases)
        func parallelSlotsComeBackAfterACancelledStreamAnUpstreamErrorAndAKill(backend: Backend) throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(environment: try backend.environment().merging([
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-upstream", "ASKD_MODEL": "test-model",
                "ASKD_TURN_LEASE_SECONDS": "2",
            ]) { $1 }, hosts: 2)
            let app = try token(stack, "app", ["--max-parallel", "2"])
            let (one, two) = (stack.hostSockets[0], stack.hostSockets[1])
            let plain = #"{"prompt":"hi"}"#

            // Two streams in flight, one per process: a third request, on either, is refused at once.
            func slotsLeft(_ socket: String) throws -> Int? {
                (try ask(host: socket, token: app, "", path: "/usage", method: "GET").json["remaining"] as? [String: Any])?["parallel"] as? Int
            }
            var streams: [FastCGIClient]? = []
            for (index, socket) in [one, two].enumerated() {
                streams?.append(try start(host: socket, token: app, ##"{"prompt":"#drip 100 100","stream":true}"##))
                try waitUntil("stream \(index + 1) holds its slot") { try slotsLeft(two) == 1 - index }
            }
            let refused = try ask(host: two, token: app, plain)
            #expect(refused.status == 429)
            #expect(refused.json["error"] as? String == "too many requests in flight: limit 2")
            // Their clients leave (nginx closes the connection): the slots come back.
            #expect(streams?.count == 2)
            streams = nil
            try waitUntil("the cancelled streams' slots come back", seconds: 5) { try slotsLeft(one) == 2 }
            #expect(try ask(host: one, token: app, plain).status == 200)

            // Upstream errors give theirs back.
            for _ in 0..<3 { #expect(try ask(host: two, token: app, ##"{"prompt":"#status 500"}"##).status == 502) }
            let usage = try ask(host: one, token: app, "", path: "/usage", method: "GET")
            #expect((usage.json["remaining"] as? [String: Any])?["parallel"] as? Int == 2, "\(usage.json)")

            // A process killed with both slots held: refused until their lease (2 s) runs out.
            var held: [FastCGIClient] = []
            for index in 0..<2 {
                held.append(try start(host: one, token: app, ##"{"prompt":"#slow 30"}"##))
                try waitUntil("the first process holds \(index + 1) slots") { try slotsLeft(two) == 1 - index }
            }
            stack.signalAskd(SIGKILL)
            let killed = Date()
            #expect(try ask(host: two, token: app, plain).status == 429, "the dead process's slots are still leased")
            try waitUntil("the dead process's slots run out", seconds: 6) { try ask(host: two, token: app, plain).status == 200 }
            #expect(Date().timeIntervalSince(killed) < 4.5, "within the 2 s lease and its renewal")
            withExtendedLifetime(held) {}
        }

        @Test(arguments: Backend.allCases)
        func aTokenUpdateTakesEffectWithinASecondInEveryProcess(backend: Backend) throws {
            let stack = try Stack(environment: try backend.environment(), hosts: 2)
            let app = try token(stack, "app", [])
            for socket in stack.hostSockets { #expect(try ask(host: socket, token: app, #"{"prompt":"hi"}"#).status == 200) }
            let update = try Stack.run(Stack.askdBinary, ["token", "update", "app", "--rpm", "1", "--models", "echo"], environment: ["ASKD_DATABASE": stack.database])
            #expect(update.status == 0, "\(update.stderr)")
            let updated = Date()
            try waitUntil("both processes apply the new limit", seconds: 3) {
                try stack.hostSockets.allSatisfy { try ask(host: $0, token: app, "", path: "/usage", method: "GET").head.contains("x-ratelimit-limit-requests: 1") }
            }
            #expect(Date().timeIntervalSince(updated) < 1.0)
            #expect(try ask(host: stack.hostSockets[0], token: app, #"{"prompt":"hi"}"#).status == 200)
            #expect(try ask(host: stack.hostSockets[1], token: app, #"{"prompt":"hi"}"#).status == 429)
            let removed = try Stack.run(Stack.askdBinary, ["token", "update", "app", "--rpm", "none"], environment: ["ASKD_DATABASE": stack.database])
            #expect(removed.status == 0)
            try waitUntil("both processes drop it", seconds: 1.5) {
                try stack.hostSockets.allSatisfy { try ask(host: $0, token: app, #"{"prompt":"hi"}"#).status == 200 }
            }
            let list = try Stack.run(Stack.askdBinary, ["token", "list", "--json"], environment: ["ASKD_DATABASE": stack.database])
            let tokens = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
            #expect((tokens.first?["limits"] as? [String: Any])?["models"] as? [String] == ["echo"])
            #expect(((tokens.first?["today"] as? [String: Any])?["requests"] as? Int ?? 0) >= 4)
        }

        @Test func beyondMaxInFlightAskdAnswers503AtOnce() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-upstream", "ASKD_MODEL": "test-model",
                "ASKD_MAX_IN_FLIGHT": "2",
            ])
            let app = try stack.createToken(name: "app")
            let slow = try (0..<2).map { _ in try start(host: stack.socketPath, token: app, ##"{"prompt":"#slow 3"}"##) }
            try waitUntil("two requests wait on the model") { (try? stack.client.get("/healthz"))?.status == 503 }
            let busy = try stack.client.request("POST", "/ask", headers: [("Authorization", "Bearer \(app)")], body: Array(#"{"prompt":"hi"}"#.utf8))
            #expect(busy.status == 503)
            #expect(try busy.json()["error"] as? String == "server busy")
            #expect(busy.header("Retry-After") == "1")
            for client in slow { #expect(try client.readResponse().hasPrefix("Status: 200")) }
            #expect(try stack.client.request("POST", "/ask", headers: [("Authorization", "Bearer \(app)")], body: Array(#"{"prompt":"hi"}"#.utf8)).status == 200)
        }
    }
}
