import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    @Suite struct Shutdown {
        @Test func sigtermDrainsInFlightRequestsRefusesNewOnesAndExitsZero() throws {
            let stack = try Stack(askdArguments: ["--threads", "32"])
            let connections = try (0..<20).map { _ in
                let connection = try Connection(port: stack.port)
                try connection.send(HTTPClient.requestBytes("GET", "/_test/slow?ms=2000"))
                return connection
            }
            usleep(600_000)
            stack.signalAskd(SIGTERM)
            try waitUntil("askd logs the stop", seconds: 2) { stack.askdLog.contains("stopping") }

            // New connections are refused while the 20 are still in flight.
            #expect(connectError(unixSocket: stack.socketPath) != nil)
            let refused = try stack.client.get("/healthz")
            #expect(refused.status == 503)
            #expect(refused.header("Retry-After") != nil)
            #expect(try refused.json()["error"] is String)

            let statuses = try connections.map { connection in
                defer { connection.close() }
                return try connection.readResponse().status
            }
            #expect(statuses == Array(repeating: 200, count: 20))
            #expect(stack.waitForAskdExit(within: 5) == 0)
            #expect(stack.askdLog.contains("stopped cleanly"))
            #expect(stack.askdLog.contains("in_flight=20"))
        }

        /// Asks waiting on the model hold no worker, but they are in flight all the same: a stop
        /// lets all 12 finish (on 2 workers), stored and answered, before askd exits 0.
        @Test func sigtermWaitsForAsksThatAwaitTheModel() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(askdArguments: ["--threads", "2"], environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-test",
            ])
            let token = try stack.createToken(name: "app")
            let headers = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
            let connections = try (0..<12).map { _ in
                let connection = try Connection(port: stack.port)
                try connection.send(HTTPClient.requestBytes("POST", "/ask", headers: headers, body: Array(##"{"prompt":"#slow 1.5"}"##.utf8)))
                return connection
            }
            try waitUntil("the upstream has all 12 requests", seconds: 3) { (try? upstream.requests().count) == 12 }
            stack.signalAskd(SIGTERM)
            try waitUntil("askd logs the stop", seconds: 2) { stack.askdLog.contains("stopping") }
            let statuses = try connections.map { connection in
                defer { connection.close() }
                return try connection.readResponse().status
            }
            #expect(statuses == Array(repeating: 200, count: 12))
            #expect(stack.waitForAskdExit(within: 5) == 0)
            #expect(stack.askdLog.contains("in_flight=12"))
            #expect(stack.askdLog.contains("stopped cleanly"))
            #expect(try stack.count("SELECT COUNT(*) FROM messages") == 24)
        }

        @Test func connectionsQueuedBeforeTheStopAreAnsweredNotReset() throws {
            let stack = try Stack(askdArguments: ["--threads", "1"])
            let busy = try FastCGIClient(socketPath: stack.socketPath)
            try busy.send(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/_test/slow?ms=1000")], stdin: [], keepConnection: false)
            usleep(200_000)
            // The only worker is busy: this one waits in the socket's queue.
            let queued = try FastCGIClient(socketPath: stack.socketPath)
            try queued.send(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/healthz")], stdin: [], keepConnection: false)
            usleep(100_000)
            stack.signalAskd(SIGTERM)
            #expect(try busy.readResponse().hasPrefix("Status: 200"))
            #expect(try queued.readResponse().contains(#"{"status":"ok"}"#))
            #expect(stack.waitForAskdExit(within: 5) == 0)
        }

        @Test func sigintStopsAnIdleServerAtOnce() throws {
            let stack = try Stack()
            let started = Date()
            stack.signalAskd(SIGINT)
            #expect(stack.waitForAskdExit(within: 3) == 0)
            #expect(Date().timeIntervalSince(started) < TestTiming.bound(1))
            #expect(!FileManager.default.fileExists(atPath: stack.socketPath))
        }

        @Test func aSecondSignalExitsAtOnce() throws {
            let stack = try Stack(askdArguments: ["--threads", "8"])
            let connections = try (0..<3).map { _ in
                let connection = try Connection(port: stack.port)
                try connection.send(HTTPClient.requestBytes("GET", "/_test/slow?ms=20000"))
                return connection
            }
            defer { connections.forEach { $0.close() } }
            usleep(300_000)
            stack.signalAskd(SIGTERM)
            usleep(300_000)
            #expect(stack.askd.isRunning, "askd should still be draining")
            let started = Date()
            stack.signalAskd(SIGTERM)
            #expect(stack.waitForAskdExit(within: 2) == 1)
            #expect(Date().timeIntervalSince(started) < TestTiming.bound(1))
            #expect(stack.askdLog.contains("second stop signal"))
        }

        @Test func theDrainIsBoundedByDrainSeconds() throws {
            let stack = try Stack(askdArguments: ["--threads", "4", "--drain-seconds", "1"])
            let connection = try Connection(port: stack.port)
            defer { connection.close() }
            try connection.send(HTTPClient.requestBytes("GET", "/_test/slow?ms=20000"))
            usleep(300_000)
            let started = Date()
            stack.signalAskd(SIGTERM)
            #expect(stack.waitForAskdExit(within: 5) == 1)
            let elapsed = Date().timeIntervalSince(started)
            #expect(elapsed > 0.9 && elapsed < 2.5, "drain took \(elapsed) s")
            #expect(stack.askdLog.contains("drain time ran out"))
        }

        /// A streamed answer still going when the drain time runs out ends with an `error` event
        /// (503, ask again), not `done`, even while the model is silent; askd then exits 1.
        @Test func aStreamLongerThanTheDrainEndsWithAnErrorEvent() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(askdArguments: ["--drain-seconds", "1"], environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-test",
            ])
            let token = try stack.createToken(name: "app")
            // One chunk at once, the next 4 s later: the model is silent when the drain runs out.
            let stream = try EventStreamClient(port: stack.port, token: token, body: ##"{"prompt":"#drip 3 4000","stream":true}"##)
            #expect(try stream.head().contains("200 OK"))
            try waitUntil("askd streams the first word") { (try? upstream.requests().count) == 1 }
            usleep(200_000)
            let started = Date()
            stack.signalAskd(SIGTERM)
            let events = try stream.readAll()
            #expect(events.filter { $0.event == nil }.count == 1, "\(events.map(\.event))")
            let last = try #require(events.last)
            #expect(last.event == "error", "\(events.map(\.event))")
            #expect(last.json["status"] as? Int == 503)
            #expect(last.json["retry_after"] as? String == "5")
            #expect(stack.waitForAskdExit(within: 5) == 1)
            let elapsed = Date().timeIntervalSince(started)
            #expect(elapsed > 0.9 && elapsed < TestTiming.bound(3.5), "the stop took \(elapsed) s")
            #expect(stack.askdLog.contains("ending the streamed answers still going with an error event"))
        }
    }
}
