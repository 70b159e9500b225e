import Foundation
import Platform
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// Many clients on one busy conversation neither hold askd's capacity nor make it write.
    @Suite struct BusyConversation {
        @Test func twoHundredFiftyFiveWaitersLeaveTheRestAnswering() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-upstream",
                "ASKD_MODEL": "test-model", "ASKD_UPSTREAM_TIMEOUT_SECONDS": "20",
            ])
            let alice = try stack.createToken(name: "alice")
            let bob = try stack.createToken(name: "bob")
            let port = stack.port
            @Sendable func ask(_ token: String, _ body: String) throws -> HTTPResponse {
                try HTTPClient(port: port).request(
                    "POST", "/ask", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")], body: Array(body.utf8)
                )
            }
            let first = try ask(alice, #"{"prompt":"hello"}"#)
            let id = try #require((try first.json()["response"] as? [String: Any])?["conversation_id"] as? String)

            // A turn that holds the conversation for 6 s.
            let busy = Thread { _ = try? ask(alice, ##"{"prompt":"#slow 6","conversation_id":"\##(id)"}"##) }
            busy.start()
            Thread.sleep(forTimeInterval: 0.3)

            // 255 clients ask on it, each trying again after every 409's Retry-After.
            let stop = Atomic<Bool>(false)
            let statuses = Locked<[Int: Int]>([:])
            let waiters = (0..<255).map { _ in
                Thread {
                    while !stop.load(ordering: .relaxed) {
                        guard let response = try? ask(alice, #"{"prompt":"me too","conversation_id":"\#(id)"}"#) else { continue }
                        statuses.withLock { $0[response.status, default: 0] += 1 }
                        if response.status == 409 {
                            // As clients back off: Retry-After, and a little jitter so they do not come back in step.
                            let after = Double(response.header("Retry-After") ?? "1") ?? 1
                            Thread.sleep(forTimeInterval: after + Double.random(in: 0...0.25))
                        }
                    }
                }
            }
            for waiter in waiters { waiter.start() }
            Thread.sleep(forTimeInterval: 1)

            var health: [Double] = []
            var other: [Double] = []
            let end = Date().addingTimeInterval(4)
            while Date() < end {
                var start = Date()
                #expect(try stack.client.get("/healthz").status == 200)
                health.append(Date().timeIntervalSince(start))
                start = Date()
                #expect(try ask(bob, #"{"prompt":"elsewhere"}"#).status == 200)
                other.append(Date().timeIntervalSince(start))
                Thread.sleep(forTimeInterval: 0.02)
            }
            stop.store(true, ordering: .relaxed)
            let seen = statuses.withLock { $0 }
            let healthP99 = Self.percentile(health, 0.99)
            let otherP99 = Self.percentile(other, 0.99)
            print(
                "255 waiters: /healthz p50 \(Self.ms(Self.percentile(health, 0.5))) p99 \(Self.ms(healthP99)) ms (\(health.count)); "
                    + "another token's /ask p50 \(Self.ms(Self.percentile(other, 0.5))) p99 \(Self.ms(otherP99)) ms (\(other.count)); "
                    + "waiters' statuses \(seen)"
            )
            if TestTiming.checksLatencyBars {
                #expect(healthP99 <= 0.05)
                #expect(otherP99 <= 0.05)
            }
            #expect((seen[409] ?? 0) > 0, "the waiters were told the conversation is busy")
            #expect(Set(seen.keys).isSubset(of: [200, 409]), "\(seen)")
        }

        private static func percentile(_ values: [Double], _ fraction: Double) -> Double {
            let sorted = values.sorted()
            return sorted.isEmpty ? .infinity : sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
        }

        private static func ms(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1000) }
    }
}
