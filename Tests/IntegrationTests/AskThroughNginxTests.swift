import Foundation
import Testing

extension IntegrationTests {
    /// POST /ask and DELETE /conversation/{id} through nginx, with the echo provider and SQLite.
    @Suite struct AskThroughNginx {
        private func ask(_ stack: Stack, token: String?, _ body: String, headers: [(String, String)] = []) throws -> HTTPResponse {
            var all = headers
            if let token { all.append(("Authorization", "Bearer \(token)")) }
            if !all.contains(where: { $0.0 == "Content-Type" }) { all.append(("Content-Type", "application/json")) }
            return try stack.client.request("POST", "/ask", headers: all, body: Array(body.utf8))
        }

        private func conversationID(_ response: HTTPResponse) throws -> String {
            let answer = try #require(try response.json()["response"] as? [String: Any])
            return try #require(answer["conversation_id"] as? String)
        }

        @Test func aConversationStartsContinuesAndIsDeleted() throws {
            let stack = try Stack()
            let token = try stack.createToken(name: "app")
            let first = try ask(stack, token: token, #"{"prompt":"Hello there"}"#)
            #expect(first.status == 200)
            let answer = try #require(try first.json()["response"] as? [String: Any])
            #expect(answer["message"] as? String == "[echo provider] You said: Hello there")
            #expect(answer["model"] as? String == "echo")
            let id = try conversationID(first)

            let second = try ask(stack, token: token, #"{"prompt":"And again","conversation_id":"\#(id)"}"#)
            #expect(second.status == 200)
            #expect((try second.json()["response"] as? [String: Any])?["message"] as? String
                == "[echo provider] You said: And again (after 2 earlier messages)")

            // The original clients: form-encoded prompt, bare token, conversation_id in the query.
            let legacy = try stack.client.request(
                "POST", "/ask?conversation_id=\(id)",
                headers: [("Authorization", token), ("Content-Type", "application/x-www-form-urlencoded")],
                body: Array("prompt=third+time".utf8)
            )
            #expect(legacy.status == 200)
            #expect(legacy.text.contains("after 4 earlier messages"))

            let deleted = try stack.client.request("DELETE", "/conversation/\(id)", headers: [("Authorization", "Bearer \(token)")])
            #expect(deleted.status == 204)
            #expect(deleted.body.isEmpty)
            let again = try stack.client.request("DELETE", "/conversation/\(id)", headers: [("Authorization", "Bearer \(token)")])
            #expect(again.status == 404)
            #expect(try again.json()["error"] as? String == "conversation not found")
            #expect(try ask(stack, token: token, #"{"prompt":"x","conversation_id":"\#(id)"}"#).status == 404)
        }

        /// A plain answer's last stdout record and its end record leave in one send: nginx has the
        /// whole body by its Content-Length and would otherwise close the connection before the
        /// end record came, and askd would log a client that left.
        @Test func plainAnswersEndCleanlyOnAKeptConnection() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(environment: ["ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-test"])
            let token = try stack.createToken(name: "app")
            // curl closes its connection as soon as it has the body, as many clients do: nginx then
            // gives up a FastCGI request whose end record has not come yet.
            for round in 0..<30 {
                let result = try Stack.run("/usr/bin/curl", [
                    "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(token)", "-H", "Content-Type: application/json",
                    "-d", #"{"prompt":"round \#(round)"}"#, "http://127.0.0.1:\(stack.port)/ask",
                ])
                #expect(result.stdout == "200", "\(result.stdout) \(result.stderr)")
            }
            try waitUntil("askd logs the 30 answers", seconds: 5) { stack.askdLog.components(separatedBy: "path=/ask status=200").count - 1 == 30 }
            #expect(!stack.askdLog.contains("client=gone"), "\(stack.askdLog.suffix(2000))")
        }

        @Test func errorsThroughNginx() throws {
            let stack = try Stack()
            let token = try stack.createToken(name: "app")
            let missing = try ask(stack, token: nil, #"{"prompt":"x"}"#)
            #expect(missing.status == 401)
            #expect(missing.header("WWW-Authenticate") == "Bearer")
            #expect(try missing.json()["error"] as? String == "access token is required")
            #expect(try ask(stack, token: "askd_forged", #"{"prompt":"x"}"#).status == 401)
            #expect(try ask(stack, token: token, #"{"prompt":""}"#).status == 400)
            #expect(try ask(stack, token: token, #"{"prompt":"x""#).status == 400)
            #expect(try ask(stack, token: token, "prompt", headers: [("Content-Type", "text/plain")]).status == 415)
            let wrongMethod = try stack.client.get("/ask")
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.header("Allow") == "POST")
            for malformed in ["%00", "a%2Fb", String(repeating: "x", count: 65), "%E2%9C%93"] {
                let response = try stack.client.request("DELETE", "/conversation/\(malformed)", headers: [("Authorization", token)])
                #expect([400, 404].contains(response.status), "\(malformed): \(response.status)")
                #expect(try response.json()["error"] is String, "\(malformed)")
            }
        }

        @Test func tokensCannotSeeEachOthersConversations() throws {
            let stack = try Stack()
            let alice = try stack.createToken(name: "alice")
            let bob = try stack.createToken(name: "bob")
            let id = try conversationID(try ask(stack, token: alice, #"{"prompt":"secret"}"#))
            let continued = try ask(stack, token: bob, #"{"prompt":"x","conversation_id":"\#(id)"}"#)
            #expect(continued.status == 404)
            let deleted = try stack.client.request("DELETE", "/conversation/\(id)", headers: [("Authorization", bob)])
            #expect(deleted.status == 404)
            #expect(try ask(stack, token: alice, #"{"prompt":"still mine","conversation_id":"\#(id)"}"#).status == 200)
        }

        @Test func aRevokedTokenIsRefusedAtOnce() throws {
            let stack = try Stack()
            let token = try stack.createToken(name: "leaked")
            #expect(try ask(stack, token: token, #"{"prompt":"x"}"#).status == 200)
            let revoked = try Stack.run(Stack.askdBinary, ["token", "revoke", "leaked"], environment: ["ASKD_DATABASE": stack.databasePath])
            #expect(revoked.status == 0)
            let refused = try ask(stack, token: token, #"{"prompt":"x"}"#)
            #expect(refused.status == 401)
            #expect(try refused.json()["error"] as? String == "invalid access token")
        }

        @Test func concurrentAsksOnOneConversationAreAllKept() throws {
            let stack = try Stack()
            let token = try stack.createToken(name: "app")
            let id = try conversationID(try ask(stack, token: token, #"{"prompt":"start"}"#))
            let connections = try (0..<10).map { index in
                let connection = try Connection(port: stack.port)
                try connection.send(HTTPClient.requestBytes(
                    "POST", "/ask", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                    body: Array(#"{"prompt":"turn \#(index)","conversation_id":"\#(id)"}"#.utf8)
                ))
                return connection
            }
            let answers = try connections.map { connection in
                defer { connection.close() }
                return try connection.readResponse()
            }
            #expect(answers.allSatisfy { $0.status == 200 })
            // Each turn saw every turn before it: 2, 4, ..., 20 earlier messages, each once.
            let seen = answers.compactMap { answer -> Int? in
                guard let range = answer.text.range(of: #"after (\d+) earlier"#, options: .regularExpression) else { return nil }
                return Int(answer.text[range].split(separator: " ")[1])
            }
            #expect(seen.sorted() == Array(stride(from: 2, through: 20, by: 2)))
            let last = try ask(stack, token: token, #"{"prompt":"count","conversation_id":"\#(id)"}"#)
            #expect(last.text.contains("after 22 earlier messages"))
        }

        @Test func twoProcessesShareOneSQLiteFile() throws {
            let first = try Stack()
            let token = try first.createToken(name: "app")
            let second = try Stack(environment: ["ASKD_DATABASE": first.databasePath])
            let id = try conversationID(try ask(first, token: token, #"{"prompt":"on the first"}"#))
            let continued = try ask(second, token: token, #"{"prompt":"on the second","conversation_id":"\#(id)"}"#)
            #expect(continued.status == 200)
            #expect(continued.text.contains("after 2 earlier messages"))
            #expect(try ask(first, token: token, #"{"prompt":"back","conversation_id":"\#(id)"}"#).text.contains("after 4 earlier"))
        }
    }
}
