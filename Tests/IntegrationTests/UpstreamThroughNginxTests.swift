import Foundation
import Testing

extension IntegrationTests {
    /// askd with the openai provider against the local OpenAI-compatible test server, through nginx.
    @Suite struct UpstreamThroughNginx {
        static let upstreamKey = "sk-upstream-secret-key"

        private func stack(_ upstream: FakeOpenAI, extra: [String: String] = [:]) throws -> Stack {
            try Stack(environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": Self.upstreamKey,
                "ASKD_MODEL": "test-model", "ASKD_SYSTEM_PROMPT": "You are terse.", "ASKD_UPSTREAM_TIMEOUT_SECONDS": "2",
            ].merging(extra) { $1 })
        }

        private func ask(_ stack: Stack, _ token: String, _ prompt: String, conversation: String? = nil) throws -> HTTPResponse {
            var body: [String: String] = ["prompt": prompt]
            if let conversation { body["conversation_id"] = conversation }
            return try stack.client.request(
                "POST", "/ask", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                body: Array(try JSONSerialization.data(withJSONObject: body))
            )
        }

        @Test func theUpstreamGetsTheHistoryInOrderAndAskdsOwnKey() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let token = try stack.createToken(name: "app")
            let first = try ask(stack, token, "first question")
            #expect(first.status == 200)
            let answer = try #require(try first.json()["response"] as? [String: Any])
            #expect(answer["message"] as? String == "upstream heard: first question")
            #expect(answer["model"] as? String == "test-model")
            #expect((answer["usage"] as? [String: Any])?["completion_tokens"] as? Int == 3)
            let id = try #require(answer["conversation_id"] as? String)
            #expect(try ask(stack, token, "second question", conversation: id).status == 200)

            let sent = try upstream.requests()
            #expect(sent.count == 2)
            #expect(sent.allSatisfy { $0.authorization == "Bearer \(Self.upstreamKey)" }, "askd's key, never the caller's token")
            #expect(!sent.contains { ($0.authorization ?? "").contains(token) })
            let messages = try #require(sent.last?.body["messages"] as? [[String: String]])
            #expect(messages.map { $0["role"] ?? "" } == ["system", "user", "assistant", "user"])
            #expect(messages.map { $0["content"] ?? "" } == [
                "You are terse.", "first question", "upstream heard: first question", "second question",
            ])
            #expect(sent.last?.body["model"] as? String == "test-model")
            // Both asks' lines are out (the log's thread writes them a moment after the answer).
            try waitUntil("askd logs both asks") { stack.askdLog.components(separatedBy: "path=/ask ").count == 3 }
            #expect(!stack.askdLog.contains(Self.upstreamKey))
            #expect(!stack.askdLog.contains(token))
        }

        @Test(arguments: [
            ("#status 429", 429, "the model is rate-limited; try again later"),
            ("#status 401", 502, "upstream rejected askd's credentials"),
            ("#status 500", 502, "the model could not answer"),
            ("#garbage", 502, "the model could not answer"),
            ("#slow 4", 504, "the model did not answer in time"),
        ])
        func upstreamFailuresMapToStatusesAndLeaveNoTrace(prompt: String, status: Int, message: String) throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let token = try stack.createToken(name: "app")
            let id = try #require(try ask(stack, token, "hello").json()["response"] as? [String: Any])["conversation_id"] as? String
            let failed = try ask(stack, token, prompt, conversation: id)
            #expect(failed.status == status)
            #expect(try failed.json()["error"] as? String == message)
            #expect(!failed.text.contains("secret detail"), "the upstream's words stay in the log")
            if status == 429 { #expect(failed.header("Retry-After") == "7") }
            // Nothing was stored: the next turn sees only the first one.
            let next = try ask(stack, token, "after", conversation: id)
            #expect(next.status == 200)
            let messages = try #require(try upstream.requests().last?.body["messages"] as? [[String: String]])
            #expect(messages.count == 4, "system, hello, its answer, after")
            #expect(try stack.count("SELECT COUNT(*) FROM messages") == 4)
            if status == 502 && prompt.contains("401") { #expect(stack.askdLog.contains("critical")) }
        }

        @Test func aFailedFirstTurnLeavesNoConversation() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let token = try stack.createToken(name: "app")
            let failed = try ask(stack, token, "#status 500")
            #expect(failed.status == 502)
            #expect(try failed.json()["response"] == nil)
            #expect(try stack.count("SELECT COUNT(*) FROM conversations") == 0)
            #expect(try stack.count("SELECT COUNT(*) FROM messages") == 0)
            let next = try ask(stack, token, "fresh")
            #expect(next.status == 200)
            let messages = try #require(try upstream.requests().last?.body["messages"] as? [[String: String]])
            #expect(messages.map { $0["content"] ?? "" } == ["You are terse.", "fresh"])
        }

        @Test func aFlakyUpstreamIsRetriedOnce() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let token = try stack.createToken(name: "app")
            let answer = try ask(stack, token, "#flaky once")
            #expect(answer.status == 200)
            #expect(try upstream.requests().count == 2)
        }

        /// Sends every ask before reading any answer, each on its own connection.
        private func askAllAtOnce(_ stack: Stack, _ token: String, _ bodies: [String]) throws -> [HTTPResponse] {
            let headers = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
            let requests = bodies.map { HTTPClient.requestBytes("POST", "/ask", headers: headers, body: Array($0.utf8)) }
            return try Connection.allAtOnce(port: stack.port, requests, timeoutSeconds: 20)
        }

        /// A plain answer is awaited on the upstream client's own thread, not on a worker: with 2
        /// workers, 40 asks whose upstream takes 1 s each are answered together, in about a
        /// second (on 2 workers, one after another, they would take 20 s).
        @Test func requestsWaitingOnTheModelHoldNoWorker() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(askdArguments: ["--threads", "2"], environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": Self.upstreamKey,
                "ASKD_UPSTREAM_TIMEOUT_SECONDS": "10",
            ])
            let token = try stack.createToken(name: "app")
            let started = Date()
            let responses = try askAllAtOnce(stack, token, (0..<40).map { _ in ##"{"prompt":"#slow 1"}"## })
            let elapsed = Date().timeIntervalSince(started)
            #expect(responses.map(\.status) == Array(repeating: 200, count: 40))
            #expect(elapsed < 5, "40 asks of 1 s on 2 workers took \(elapsed) s")
            #expect(Set(try responses.map { try ($0.json()["response"] as? [String: Any])?["conversation_id"] as? String }).count == 40)
            #expect(try stack.count("SELECT COUNT(*) FROM messages") == 80)
            #expect(try upstream.requests().count == 40)
        }

        /// A request waiting on the model gives up libfcgi's input stream for the wait. Its
        /// kept-alive connection must still carry the answer, then the next requests, answered
        /// and deferred alike; a connection whose client left during the wait must still close.
        @Test func aKeptConnectionCarriesOneDeferredAnswerAfterAnother() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(askdArguments: ["--threads", "1"], environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": Self.upstreamKey,
            ])
            let token = try stack.createToken(name: "app")
            func askParams(_ body: [UInt8]) -> [(String, String)] {
                [
                    ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/ask"), ("CONTENT_TYPE", "application/json"),
                    ("CONTENT_LENGTH", String(body.count)), ("HTTP_AUTHORIZATION", "Bearer \(token)"),
                ]
            }
            let kept = try FastCGIClient(socketPath: stack.socketPath)
            for round in 0..<4 {
                let body = Array(#"{"prompt":"round \#(round)"}"#.utf8)
                try kept.send(params: askParams(body), stdin: body)
                let answer = try kept.readResponse()
                #expect(answer.hasPrefix("Status: 200"), "round \(round): \(answer)")
                #expect(answer.contains("upstream heard: round \(round)"), "round \(round)")
                try kept.send(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/healthz")], stdin: [])
                #expect(try kept.readResponse().contains(#"{"status":"ok"}"#), "round \(round)")
            }
            #expect(!kept.serverClosed())

            // The client goes while its answer is awaited: askd notices when it writes the answer,
            // and its one worker still serves the next connection.
            do {
                let leaving = try FastCGIClient(socketPath: stack.socketPath)
                let slow = Array(##"{"prompt":"#slow 0.5"}"##.utf8)
                try leaving.send(params: askParams(slow), stdin: slow)
            }
            try waitUntil("askd logs the abandoned ask") { stack.askdLog.contains("client=gone") }
            let next = try FastCGIClient(socketPath: stack.socketPath)
            try next.send(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/healthz")], stdin: [])
            #expect(try next.readResponse().contains(#"{"status":"ok"}"#))
        }

        /// Concurrent turns on one conversation wait for its turn lock on a worker, while the turn
        /// holding it waits on the model with no worker: with 2 workers and 6 turns at once, the
        /// holder is still finished (by a finisher thread). At most one of the 2 workers waits
        /// (a quarter of the threads, at least one); the others are told 409 and try again, and
        /// every turn is kept, in order.
        @Test func concurrentTurnsOnOneConversationWithFewWorkersAreAllKept() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(askdArguments: ["--threads", "2"], environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": Self.upstreamKey,
            ])
            let token = try stack.createToken(name: "app")
            let first = try ask(stack, token, "start")
            let id = try #require((try first.json()["response"] as? [String: Any])?["conversation_id"] as? String)
            var pending = 6
            var busy = 0
            let deadline = Date().addingTimeInterval(30)
            while pending > 0, Date() < deadline {
                let responses = try askAllAtOnce(stack, token, (0..<pending).map { _ in ##"{"prompt":"#slow 0.3","conversation_id":"\##(id)"}"## })
                #expect(responses.allSatisfy { [200, 409].contains($0.status) }, "\(responses.map(\.status))")
                pending -= responses.filter { $0.status == 200 }.count
                busy += responses.filter { $0.status == 409 }.count
                if pending > 0 { Thread.sleep(forTimeInterval: 0.1) }
            }
            #expect(pending == 0)
            #expect(busy > 0, "more turns than allowed waiters were told the conversation is busy")
            #expect(try stack.count("SELECT COUNT(*) FROM messages") == 14)
            // Each turn saw every turn before it: the upstream got 2, 4, ... 12 earlier messages.
            let sent = try upstream.requests().dropFirst().map { ($0.body["messages"] as? [[String: String]])?.count ?? 0 }
            #expect(sent.sorted() == [3, 5, 7, 9, 11, 13])
        }

        @Test func anUnreachableUpstreamIs502() throws {
            let port = try FreePort.find()
            let stack = try Stack(environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": "http://127.0.0.1:\(port)/v1", "OPENAI_API_KEY": "k",
            ])
            let token = try stack.createToken(name: "app")
            let failed = try ask(stack, token, "anyone there?")
            #expect(failed.status == 502)
        }

        @Test func theOpenAIProviderRefusesToStartUnconfigured() throws {
            let result = try Stack.run(
                Stack.askdBinary, ["serve", "--socket", NSTemporaryDirectory() + "askd-unconfigured.sock"],
                environment: ["ASKD_PROVIDER": "openai", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""]
            )
            #expect(result.status == 2)
            #expect(result.stderr.contains("OPENAI_API_KEY"))
        }
    }
}

extension IntegrationTests {
    /// A conversation's own settings, set by `/ask` and `PATCH`, as the upstream receives them.
    @Suite struct ConversationSettingsThroughNginx {
        @Test func settingsReachTheUpstreamAndPatchChangesThem() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-upstream",
                "ASKD_MODEL": "model-a", "ASKD_MODELS": "model-a, model-b", "ASKD_MAX_TOKENS": "500", "ASKD_SYSTEM_PROMPT": "Default system.",
            ])
            let token = try stack.createToken(name: "app")
            let headers = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
            func ask(_ body: String) throws -> HTTPResponse {
                try stack.client.request("POST", "/ask", headers: headers, body: Array(body.utf8))
            }
            let first = try ask(#"{"prompt":"plan a trip","model":"model-b","system":"You plan trips.","title":"Trip","temperature":0.2,"max_tokens":300}"#)
            #expect(first.status == 200)
            let id = try #require((try first.json()["response"] as? [String: Any])?["conversation_id"] as? String)
            var sent = try #require(try upstream.requests().last?.body)
            #expect(sent["model"] as? String == "model-b")
            #expect(sent["temperature"] as? Double == 0.2)
            #expect(sent["max_tokens"] as? Int == 300)
            #expect((sent["messages"] as? [[String: String]])?.first?["content"] == "You plan trips.")

            // Kept for the next turn, which names nothing.
            #expect(try ask(#"{"prompt":"and hotels?","conversation_id":"\#(id)"}"#).status == 200)
            sent = try #require(try upstream.requests().last?.body)
            #expect(sent["model"] as? String == "model-b")
            #expect((sent["messages"] as? [[String: String]])?.first?["content"] == "You plan trips.")
            #expect(sent["temperature"] == nil)

            // PATCH: a new title, the default system prompt again, model-a.
            let patched = try stack.client.request(
                "PATCH", "/conversation/\(id)", headers: headers, body: Array(#"{"title":"Paris","system":null,"model":"model-a"}"#.utf8)
            )
            #expect(patched.status == 200)
            let json = try patched.json()
            #expect(json["title"] as? String == "Paris")
            #expect(json["system"] is NSNull)
            #expect(json["model"] as? String == "model-a")
            #expect(try ask(#"{"prompt":"third","conversation_id":"\#(id)"}"#).status == 200)
            sent = try #require(try upstream.requests().last?.body)
            #expect(sent["model"] as? String == "model-a")
            #expect((sent["messages"] as? [[String: String]])?.first?["content"] == "Default system.")
            let listed = try #require(try stack.client.get("/conversations", headers: headers).json()["conversations"] as? [[String: Any]])
            #expect(listed.first?["title"] as? String == "Paris")

            // Validation, each naming its field.
            let refusals: [(String, String)] = [
                (#"{"prompt":"x","model":"model-z"}"#, "model model-z is not allowed; allowed: model-a, model-b"),
                (#"{"prompt":"x","temperature":2.5}"#, "temperature must be from 0 to 2"),
                (#"{"prompt":"x","temperature":"hot"}"#, "temperature must be a number, not a string"),
                (#"{"prompt":"x","max_tokens":501}"#, "max_tokens must be from 1 to 500"),
                (#"{"prompt":"x","max_tokens":1.5}"#, "max_tokens must be a whole number"),
                (#"{"prompt":"x","title":7}"#, "title must be a string or null, not a number"),
                (#"{"prompt":"x","system":["be","brief"]}"#, "system must be a string or null, not an array"),
                (#"{"prompt":"x","title":"\#(String(repeating: "t", count: 201))"}"#, "title is longer than 200 characters"),
                (#"{"prompt":"x","title":"t\#(String(repeating: "\u{0301}", count: 200))"}"#, "title is longer than 200 characters"),
                (#"{"prompt":"x","title":"a\u0000b"}"#, "title must not contain the character U+0000"),
            ]
            for (body, message) in refusals {
                let response = try ask(body)
                #expect(response.status == 400, "\(body)")
                #expect(try response.json()["error"] as? String == message, "\(body)")
            }
            for (body, message) in [
                (#"{"model":"model-z"}"#, "model model-z is not allowed; allowed: model-a, model-b"),
                (#"{"title":false}"#, "title must be a string or null, not a boolean"),
                (#"["title"]"#, "the body must be a JSON object, not an array"),
                (#"{"title":"x",}"#, "the body is not valid JSON (at byte 13)"),
                (String(repeating: "[", count: 40) + String(repeating: "]", count: 40), "the body nests deeper than 16 levels"),
            ] {
                let refused = try stack.client.request("PATCH", "/conversation/\(id)", headers: headers, body: Array(body.utf8))
                #expect(refused.status == 400, "\(body)")
                #expect(try refused.json()["error"] as? String == message, "\(body)")
            }
            // The body is read as /ask reads it: JSON (any +json type too) or a form; text/plain
            // is not guessed at.
            let plain = try stack.client.request(
                "PATCH", "/conversation/\(id)", headers: [headers[0], ("Content-Type", "text/plain")], body: Array(#"{"title":"tp"}"#.utf8)
            )
            #expect(plain.status == 415)
            #expect(
                try plain.json()["error"] as? String
                    == "unsupported Content-Type text/plain; send application/json or application/x-www-form-urlencoded"
            )
            for (type, body, title) in [
                (nil, #"{"title":"Rome"}"#, "Rome"),
                ("application/merge-patch+json", #"{"title":"Oslo"}"#, "Oslo"),
                ("application/x-www-form-urlencoded", "title=Lyon+and+Nice", "Lyon and Nice"),
            ] {
                let changed = try stack.client.request(
                    "PATCH", "/conversation/\(id)", headers: [headers[0]] + (type.map { [("Content-Type", $0)] } ?? []), body: Array(body.utf8)
                )
                #expect(changed.status == 200, "\(type ?? "no Content-Type")")
                #expect(try changed.json()["title"] as? String == title)
            }
            let empty = try stack.client.request("PATCH", "/conversation/\(id)", headers: headers, body: [])
            #expect(empty.status == 400)
            let unknown = try stack.client.request("PATCH", "/conversation/\(id)", headers: headers, body: Array(#"{"colour":"red"}"#.utf8))
            #expect(unknown.status == 400)
            #expect(try unknown.json()["error"] as? String == "unknown field colour; a conversation has title, system and model")
            let other = try stack.createToken(name: "other")
            let foreign = try stack.client.request(
                "PATCH", "/conversation/\(id)", headers: [("Authorization", "Bearer \(other)")], body: Array(#"{"title":"mine"}"#.utf8)
            )
            #expect(foreign.status == 404)
        }
    }
}
