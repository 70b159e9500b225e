import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// askd on PostgreSQL: several processes (standing in for hosts) behind one nginx upstream,
    /// a database that goes away and comes back, and a move from SQLite.
    @Suite struct PostgresThroughNginx {
        /// `POST /ask` straight to one askd's socket, so the test picks the host.
        private func ask(host socket: String, token: String, _ body: String) throws -> (status: Int, json: [String: Any]) {
            let client = try FastCGIClient(socketPath: socket)
            let bytes = Array(body.utf8)
            try client.send(params: [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/ask"), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", String(bytes.count)), ("HTTP_AUTHORIZATION", "Bearer \(token)"),
            ], stdin: bytes, keepConnection: false)
            let response = try client.readResponse()
            let status = Int(response.dropFirst("Status: ".count).prefix(3)) ?? 0
            let body = response.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
            let json = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:]
            return (status, json)
        }

        private func message(_ json: [String: Any]) -> String {
            (json["response"] as? [String: Any])?["message"] as? String ?? ""
        }

        @Test func twoHostsShareConversationsTurnsAndRevocations() throws {
            let cluster = PostgresCluster.shared
            let url = try cluster.createDatabase()
            let stack = try Stack(environment: ["ASKD_DATABASE": url], hosts: 2)
            let token = try stack.createToken(name: "app")
            let (one, two) = (stack.hostSockets[0], stack.hostSockets[1])

            // Started on one host, continued on the other.
            let first = try ask(host: one, token: token, #"{"prompt":"hello"}"#)
            #expect(first.status == 200)
            let id = try #require((first.json["response"] as? [String: Any])?["conversation_id"] as? String)
            let second = try ask(host: two, token: token, #"{"prompt":"again","conversation_id":"\#(id)"}"#)
            #expect(second.status == 200)
            #expect(message(second.json) == "[echo provider] You said: again (after 2 earlier messages)")

            // 20 turns at once on that conversation through nginx, spread over both hosts: all
            // kept, each after every turn before it.
            let connections = try (0..<20).map { index in
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
            let earlier = try answers.map { answer -> Int in
                let text = message(try answer.json())
                let count = text.split(separator: "(after ").last?.split(separator: " ").first.flatMap { Int($0) }
                return try #require(count, "\(text)")
            }
            #expect(earlier.sorted() == stride(from: 4, to: 44, by: 2).map { $0 })
            #expect(try cluster.value("SELECT COUNT(*) FROM messages WHERE conversation_id = '\(id)'", in: url) == "44")
            try waitUntil("nginx spread the turns over both hosts") { stack.hostLogs.allSatisfy { $0.contains("path=/ask status=200") } }

            // Revoked once, refused by both.
            let revoke = try Stack.run(Stack.askdBinary, ["token", "revoke", "app"], environment: ["ASKD_DATABASE": url])
            #expect(revoke.status == 0, "\(revoke.stderr)")
            #expect(try ask(host: one, token: token, #"{"prompt":"hi"}"#).status == 401)
            #expect(try ask(host: two, token: token, #"{"prompt":"hi"}"#).status == 401)
        }

        @Test func aDatabaseOutageIs503AndAskdRecoversByItself() throws {
            let cluster = PostgresCluster.shared
            // The cluster trusts loopback connections, so the password is never checked, but
            // askd holds it like any other: it must appear in no log line, down or up.
            let url = try cluster.createDatabase().replacingOccurrences(of: "://askd@", with: "://askd:pg-s3cret@")
            let stack = try Stack(environment: ["ASKD_DATABASE": url, "ASKD_PG_STATEMENT_TIMEOUT_MS": "2000"])
            let token = try stack.createToken(name: "app")
            let body = Array(#"{"prompt":"hi"}"#.utf8)
            let headers = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
            #expect(try stack.client.request("POST", "/ask", headers: headers, body: body).status == 200)

            try cluster.pause()
            var paused = true
            defer { if paused { try? cluster.resume() } }
            // /healthz rechecks the store at most once a second while it answered.
            usleep(1_100_000)
            let down = try stack.client.request("POST", "/ask", headers: headers, body: body)
            #expect(down.status == 503)
            #expect(try down.json()["error"] as? String == "store unavailable")
            #expect(down.header("Retry-After") != nil)
            let health = try stack.client.get("/healthz")
            #expect(health.status == 503)
            #expect(try health.json()["store"] as? String == "down")

            try cluster.resume()
            paused = false
            let back = Date()
            try waitUntil("askd answers again without a restart", seconds: 10) {
                (try? stack.client.request("POST", "/ask", headers: headers, body: body))?.status == 200
            }
            #expect(Date().timeIntervalSince(back) < 5)
            // /healthz asks the store at most once a second, down or up.
            try waitUntil("/healthz reports the store up again", seconds: 2) { (try? stack.client.get("/healthz"))?.status == 200 }
            #expect(stack.waitForAskdExit(within: 0) == nil, "askd kept running")
            #expect(!stack.askdLog.contains("pg-s3cret"), "the database password stays out of the log")
            #expect(stack.askdLog.contains("the store is unavailable"), "the outage itself is logged")
        }

        @Test func migrateBringsAFreshDatabaseUpToDateAndServeCanBeToldNotTo() throws {
            let cluster = PostgresCluster.shared
            let url = try cluster.createDatabase()
            // Told not to migrate, serve leaves a fresh database alone, and cannot serve from it.
            let unmigrated = try Stack(askdArguments: ["--no-migrate"], environment: ["ASKD_DATABASE": url])
            #expect(try cluster.value("SELECT COUNT(*) FROM pg_tables WHERE tablename = 'conversations'", in: url) == "0")
            let refused = try unmigrated.client.request(
                "POST", "/ask", headers: [("Authorization", "Bearer askd_x"), ("Content-Type", "application/json")],
                body: Array(#"{"prompt":"hi"}"#.utf8)
            )
            #expect(refused.status >= 500, "no tables: \(refused.status)")

            let migrated = try Stack.run(Stack.askdBinary, ["migrate"], environment: ["ASKD_DATABASE": url], timeout: 30)
            #expect(migrated.status == 0, "\(migrated.stderr)")
            #expect(migrated.stdout.contains("is up to date"))
            #expect(try cluster.value("SELECT COUNT(*) FROM pg_tables WHERE tablename = 'conversations'", in: url) == "1")
            // Again: nothing to do, same answer.
            #expect(try Stack.run(Stack.askdBinary, ["migrate"], environment: ["ASKD_DATABASE": url], timeout: 30).status == 0)
            let token = try unmigrated.createToken(name: "app")
            let answered = try unmigrated.client.request(
                "POST", "/ask", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                body: Array(#"{"prompt":"hi"}"#.utf8)
            )
            #expect(answered.status == 200)
        }

        @Test func storeCopyMovesASQLiteDeploymentAsItIs() throws {
            // A populated SQLite deployment: two tokens, conversations of several turns.
            let sqlite = try Stack()
            let alice = try sqlite.createToken(name: "alice")
            let bob = try sqlite.createToken(name: "bob")
            let headers = { (token: String) in [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")] }
            var ids: [String] = []
            for (token, prompt) in [(alice, "a1"), (bob, "b1"), (alice, "a2")] {
                let response = try sqlite.client.request("POST", "/ask", headers: headers(token), body: Array(#"{"prompt":"\#(prompt)"}"#.utf8))
                let id = try #require((try response.json()["response"] as? [String: Any])?["conversation_id"] as? String)
                _ = try sqlite.client.request("POST", "/ask", headers: headers(token), body: Array(#"{"prompt":"more","conversation_id":"\#(id)"}"#.utf8))
                ids.append(id)
            }
            // A regenerated answer and a share link go too.
            let regenerated = try sqlite.client.request("POST", "/conversation/\(ids[0])/regenerate", headers: headers(alice), body: Array("{}".utf8))
            #expect(regenerated.status == 200, "\(regenerated.text)")
            let shared = try sqlite.client.request("POST", "/conversation/\(ids[1])/share", headers: headers(bob), body: Array("{}".utf8))
            #expect(shared.status == 201, "\(shared.text)")
            let shareID = try #require(try shared.json()["share_id"] as? String)

            let url = try PostgresCluster.shared.createDatabase()
            let copy = try Stack.run(Stack.askdBinary, ["store", "copy", "--from", sqlite.database, "--to", url], timeout: 30)
            #expect(copy.status == 0, "\(copy.stderr)")
            #expect(copy.stdout.contains("2 tokens, 3 conversations, 12 messages and 1 share"), "\(copy.stdout)")
            #expect(!copy.stdout.contains("s3cret"))
            // Again: refused without --force, the same result with it.
            let again = try Stack.run(Stack.askdBinary, ["store", "copy", "--from", sqlite.database, "--to", url], timeout: 30)
            #expect(again.status == 2)
            #expect(again.stderr.contains("--force"))
            let forced = try Stack.run(Stack.askdBinary, ["store", "copy", "--from", sqlite.database, "--to", url, "--force"], timeout: 30)
            #expect(forced.status == 0, "\(forced.stderr)")

            // The same tokens continue the same conversations on PostgreSQL; another owner's stay hidden.
            let postgres = try Stack(environment: ["ASKD_DATABASE": url])
            let read = try postgres.client.request("GET", "/conversation/\(ids[0])", headers: headers(alice))
            let messages = try #require(try read.json()["messages"] as? [[String: Any]])
            #expect((messages.last?["previous_versions"] as? [[String: Any]])?.count == 1, "\(read.text)")
            let publicRead = try postgres.client.request("GET", "/s/\(shareID)")
            #expect(publicRead.status == 200, "\(publicRead.text)")
            #expect((try publicRead.json()["messages"] as? [[String: Any]])?.count == 4)
            for (index, token) in [alice, bob, alice].enumerated() {
                let next = try postgres.client.request(
                    "POST", "/ask", headers: headers(token), body: Array(#"{"prompt":"moved","conversation_id":"\#(ids[index])"}"#.utf8)
                )
                #expect(next.status == 200)
                #expect(message(try next.json()) == "[echo provider] You said: moved (after 4 earlier messages)")
            }
            let foreign = try postgres.client.request(
                "POST", "/ask", headers: headers(bob), body: Array(#"{"prompt":"x","conversation_id":"\#(ids[0])"}"#.utf8)
            )
            #expect(foreign.status == 404)
        }
    }
}
