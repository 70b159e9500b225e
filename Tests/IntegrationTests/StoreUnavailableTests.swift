import Foundation
import Testing

extension IntegrationTests {
    /// POST /ask through nginx while another process holds the SQLite file's write lock.
    @Suite struct StoreUnavailableThroughNginx {
        private func ask(_ stack: Stack, token: String, _ body: String, requestID: String? = nil) throws -> HTTPResponse {
            var headers = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
            if let requestID { headers.append(("X-Request-Id", requestID)) }
            return try stack.client.request("POST", "/ask", headers: headers, body: Array(body.utf8))
        }

        @Test func aLockedDatabaseIsA503UntilTheLockIsReleased() throws {
            let stack = try Stack(environment: ["ASKD_SQLITE_BUSY_TIMEOUT_MS": "300"])
            let token = try stack.createToken(name: "app")
            let first = try ask(stack, token: token, #"{"prompt":"before the lock"}"#)
            try #require(first.status == 200)
            let id = try #require((try first.json()["response"] as? [String: Any])?["conversation_id"] as? String)

            let lock = try SQLiteWriteLock(
                databasePath: stack.databasePath, log: stack.directory.appendingPathComponent("lock-holder.out").path
            )
            // A new conversation fails at its commit; a continued one at its turn lock.
            let attempts = [("locked-new", #"{"prompt":"a new one"}"#), ("locked-continued", #"{"prompt":"more","conversation_id":"\#(id)"}"#)]
            for (requestID, body) in attempts {
                let started = Date()
                let refused = try ask(stack, token: token, body, requestID: requestID)
                let seconds = Date().timeIntervalSince(started)
                #expect(refused.status == 503, "\(requestID): \(refused.status) \(refused.text)")
                #expect(refused.header("Retry-After") == "5", "\(requestID)")
                let json = try refused.json()
                #expect(json.count == 1 && json["error"] as? String == "store unavailable", "\(requestID): \(refused.text)")
                // It waited out the 300 ms busy timeout, not the default 10 s.
                #expect(seconds >= 0.25 && seconds < 2.5, "\(requestID) took \(seconds) s")
            }
            // askd writes each access-log line once the response is out.
            func accessLine(_ requestID: String) -> Substring? {
                stack.askdLog.split(separator: "\n").first { $0.contains("request_id=\(requestID)") && $0.contains(" status=") }
            }
            for (requestID, _) in attempts {
                try waitUntil("askd logs \(requestID)", seconds: 2) { accessLine(requestID) != nil }
                let line = accessLine(requestID) ?? ""
                #expect(line.contains("path=/ask") && line.contains("status=503"), "\(line)")
                // The operator learns why from the log.
                #expect(stack.askdLog.split(separator: "\n").contains {
                    $0.contains("request_id=\(requestID)") && $0.contains("the store is unavailable") && $0.contains("locked")
                })
            }

            #expect(lock.release() == 0, "the lock holder should still have held the lock")
            // Nothing of the refused turns remains: not a conversation, a message or a turn lock.
            #expect(try stack.count("SELECT COUNT(*) FROM conversations") == 1)
            #expect(try stack.count("SELECT COUNT(*) FROM messages") == 2)
            #expect(try stack.count("SELECT COUNT(*) FROM turn_locks") == 0)

            // The same askd recovers at once.
            let continued = try ask(stack, token: token, #"{"prompt":"after the lock","conversation_id":"\#(id)"}"#)
            #expect(continued.status == 200)
            #expect(continued.text.contains("after 2 earlier messages"), "\(continued.text)")
            #expect(try ask(stack, token: token, #"{"prompt":"a new one"}"#).status == 200)
            #expect(try stack.count("SELECT COUNT(*) FROM messages") == 6)
        }
    }
}
