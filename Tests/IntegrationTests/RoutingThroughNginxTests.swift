import Foundation
import Testing

extension IntegrationTests {
    @Suite struct RoutingThroughNginx {
        @Test func healthzAnswersOKWithARequestID() throws {
            let stack = try Stack()
            let response = try stack.client.get("/healthz")
            #expect(response.status == 200)
            #expect(response.header("Content-Type")?.hasPrefix("application/json") == true)
            #expect(try response.json()["status"] as? String == "ok")
            let id = try #require(response.header("X-Request-Id"))
            #expect(id.count == 32)
            // Request lines may reach the log a moment after the answer (see LogSink).
            try waitUntil("askd logs the request") { stack.askdLog.contains("request_id=\(id)") }
        }

        @Test func aSaneRequestIDIsKeptAndAnInsaneOneReplaced() throws {
            let stack = try Stack()
            let kept = try stack.client.get("/healthz", headers: [("X-Request-Id", "trace-42.a_b:c")])
            #expect(kept.header("X-Request-Id") == "trace-42.a_b:c")
            let replaced = try stack.client.get("/healthz", headers: [("X-Request-Id", "bad id; drop table")])
            #expect(replaced.header("X-Request-Id") != nil)
            #expect(replaced.header("X-Request-Id")?.contains(" ") == false)
            let tooLong = try stack.client.get("/healthz", headers: [("X-Request-Id", String(repeating: "x", count: 200))])
            #expect(tooLong.header("X-Request-Id")?.count == 32)
        }

        @Test func headGetsTheHeadersWithoutABody() throws {
            let stack = try Stack()
            let response = try stack.client.request("HEAD", "/healthz")
            #expect(response.status == 200)
            #expect(response.body.isEmpty)
        }

        @Test func unknownPathsAre404JSONFromAskdAndFromNginx() throws {
            let stack = try Stack()
            let fromAskd = try stack.client.get("/conversation/a/b")
            #expect(fromAskd.status == 404)
            #expect(try fromAskd.json()["error"] is String)
            #expect(fromAskd.header("X-Request-Id") != nil)
            let fromNginx = try stack.client.get("/no/such/thing")
            #expect(fromNginx.status == 404)
            #expect(try fromNginx.json()["error"] as? String == "not found")
        }

        @Test func aWrongMethodIs405WithAllow() throws {
            let stack = try Stack()
            for method in ["POST", "DELETE", "PUT", "BREW"] {
                let response = try stack.client.request(method, "/healthz", body: method == "POST" ? Array("{}".utf8) : nil)
                #expect(response.status == 405, "\(method)")
                #expect(response.header("Allow") == "GET, HEAD", "\(method)")
                #expect(try response.json()["error"] is String, "\(method)")
            }
        }

        @Test func anUnexpectedErrorIsAnOpaque500AndTheDetailsAreOnlyLogged() throws {
            let stack = try Stack()
            let response = try stack.client.get("/_test/fail", headers: [("X-Request-Id", "fail-1")])
            #expect(response.status == 500)
            let body = try response.json()
            #expect(body["error"] as? String == "internal error")
            #expect(body["request_id"] as? String == "fail-1")
            #expect(!response.text.contains("Failure"))
            #expect(stack.askdLog.contains("TestRoutes.Failure"))
        }

        @Test func theLogHasOneLinePerRequestAndNoSecrets() throws {
            let stack = try Stack()
            let secret = "askd_" + String(repeating: "s3cr3t", count: 6)
            let response = try stack.client.request(
                "POST", "/_test/echo?token=\(secret)",
                headers: [("Authorization", "Bearer \(secret)"), ("X-Request-Id", "log-1")],
                body: Array(#"{"prompt":"\#(secret)"}"#.utf8)
            )
            #expect(response.status == 200)
            try waitUntil("askd logs the request") { stack.askdLog.contains("request_id=log-1") }
            let lines = stack.askdLog.split(separator: "\n").filter { $0.contains("request_id=log-1") }
            #expect(lines.count == 1)
            let line = try #require(lines.first)
            for field in ["method=POST", "path=/_test/echo", "status=200", "duration_ms="] {
                #expect(line.contains(field), "\(field) missing from \(line)")
            }
            #expect(!stack.askdLog.contains("s3cr3t"))
        }
    }
}
