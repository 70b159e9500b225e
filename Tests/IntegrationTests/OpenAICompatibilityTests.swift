import Foundation
import Testing

extension IntegrationTests {
    /// `/v1/`, OpenAI's dialect, through nginx: the official `openai` Python SDK as the client
    /// (Tests/Support/openai-sdk, which also checks every answer and chunk strictly), and
    /// nginx's own errors there in OpenAI's shape.
    @Suite struct OpenAICompatibility {
        private static let script = Stack.repository.appendingPathComponent("Tests/Support/openai-sdk").path

        private func expectPassed(_ result: (status: Int32, stderr: String, stdout: String), _ stack: Stack) {
            #expect(result.status == 0, "the SDK check failed (exit \(result.status)):\n\(result.stdout)\n\(result.stderr)\naskd log:\n\(stack.askdLog.suffix(3000))")
        }

        @Test func theOfficialSDKWorksThroughNginxAgainstAnUpstream() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-upstream-secret-key",
                "ASKD_MODEL": "test-model", "ASKD_MODELS": "test-model,other-model", "ASKD_UPSTREAM_TIMEOUT_SECONDS": "5",
            ])
            let token = try stack.createToken(name: "sdk")
            let limited = try stack.createToken(name: "sdk-limited", ["--rpm", "2", "--models", "test-model"])
            let result = try Stack.run(
                Self.script, ["upstream", "http://127.0.0.1:\(stack.port)", token, upstream.requestsPath],
                environment: ["ASKD_LIMITED_TOKEN": limited], timeout: 90
            )
            expectPassed(result, stack)
            // The upstream got askd's key, never the caller's token.
            let sent = try upstream.requests()
            #expect(!sent.isEmpty && sent.allSatisfy { $0.authorization == "Bearer sk-upstream-secret-key" })
            #expect(!stack.askdLog.contains(token))
        }

        @Test func theOfficialSDKWorksAgainstTheEchoProvider() throws {
            let stack = try Stack()
            let token = try stack.createToken(name: "sdk")
            let limited = try stack.createToken(name: "sdk-limited", ["--rpm", "2"])
            let result = try Stack.run(
                Self.script, ["echo", "http://127.0.0.1:\(stack.port)", token], environment: ["ASKD_LIMITED_TOKEN": limited], timeout: 90
            )
            expectPassed(result, stack)
        }

        private func post(_ stack: Stack, _ token: String, bytes: Int) throws -> HTTPResponse {
            let image = "data:image/png;base64," + String(repeating: "A", count: bytes)
            let body = #"{"model":"echo","messages":[{"role":"user","content":[{"type":"text","text":"see"},"#
                + #"{"type":"image_url","image_url":{"url":"\#(image)"}}]}]}"#
            return try stack.client.request(
                "POST", "/v1/chat/completions", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                body: Array(body.utf8)
            )
        }

        private func expectOpenAIError(_ response: HTTPResponse, status: Int, code: String?, _ what: String) throws {
            #expect(response.status == status, "\(what): \(response.status) \(response.text)")
            let error = try #require(try response.json()["error"] as? [String: Any], "\(what): \(response.text)")
            #expect(error["message"] is String && error["type"] is String, "\(what): \(error)")
            #expect(error["param"] is NSNull, "\(what): param must be JSON null: \(response.text)")
            if let code { #expect(error["code"] as? String == code, "\(what): \(response.text)") }
            #expect(response.header("X-Request-Id")?.isEmpty == false, "\(what): X-Request-Id")
        }

        @Test func bodiesUnderV1HaveTheirOwnLimitInAskdAndInNginx() throws {
            let stack = try Stack(environment: ["ASKD_MAX_V1_BODY_BYTES": "2097152"])
            let token = try stack.createToken(name: "images")
            // Above /ask's 1 MiB, within /v1/'s 2 MiB: answered.
            let image = try post(stack, token, bytes: 1_500_000)
            #expect(image.status == 200, "\(image.status) \(image.text.prefix(300))")
            // Above /v1/'s limit but within nginx's margin of 4 KiB: askd's own 413.
            try expectOpenAIError(try post(stack, token, bytes: 2_097_152 - 100), status: 413, code: "request_too_large", "askd's 413")
            // Far above: nginx's 413, in OpenAI's shape too.
            try expectOpenAIError(try post(stack, token, bytes: 3_000_000), status: 413, code: "request_too_large", "nginx's 413")
            // /ask keeps askd's own limit and shape.
            let ask = try stack.client.request(
                "POST", "/ask", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                body: Array(("{\"prompt\":\"" + String(repeating: "a", count: 1_100_000) + "\"}").utf8)
            )
            #expect(try ask.status == 413 && (ask.json()["error"] as? String) != nil, "\(ask.status) \(ask.text)")
        }

        @Test func everyErrorUnderV1IsOpenAIShapedAndEveryOtherPathKeepsAskdsShape() throws {
            let stack = try Stack()
            let token = try stack.createToken(name: "errors")
            let auth = [("Authorization", "Bearer \(token)")]
            try expectOpenAIError(try stack.client.request("POST", "/v1/embeddings", headers: auth, body: Array("{}".utf8)), status: 404, code: "unknown_url", "/v1/embeddings")
            try expectOpenAIError(try stack.client.get("/v1", headers: auth), status: 404, code: "unknown_url", "/v1")
            try expectOpenAIError(try stack.client.get("/v1/chat/completions", headers: auth), status: 405, code: "method_not_allowed", "GET")
            try expectOpenAIError(try stack.client.get("/v1/models"), status: 401, code: "invalid_api_key", "no token")
            try expectOpenAIError(try stack.client.get("/v1/models/gpt-4o", headers: auth), status: 404, code: "model_not_found", "a model askd does not serve")
            let slashed = try stack.client.get("/v1/models/org/echo", headers: auth)
            #expect(slashed.status == 404, "a two-segment model name is looked up whole: \(slashed.text)")
            let elsewhere = try stack.client.get("/nowhere", headers: auth)
            #expect(try elsewhere.status == 404 && (elsewhere.json()["error"] as? String) != nil, "askd's own shape: \(elsewhere.text)")

            // askd gone: nginx's own 503, OpenAI-shaped, with a request id of its own.
            stack.signalAskd(SIGKILL)
            _ = stack.waitForAskdExit(within: 5)
            let down = try stack.client.request(
                "POST", "/v1/chat/completions", headers: auth, body: Array(#"{"model":"echo","messages":[{"role":"user","content":"hi"}]}"#.utf8)
            )
            try expectOpenAIError(down, status: 503, code: "service_unavailable", "askd down")
            #expect(down.header("Retry-After") == "5")
        }
    }
}
