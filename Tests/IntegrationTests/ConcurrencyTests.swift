import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    @Suite struct Concurrency {
        @Test func twoHundredConcurrentConnectionsAreAllAnswered() throws {
            let stack = try Stack()
            let started = Date()
            // Every request is in flight before any answer is read: each holds a worker for 500 ms.
            let connections = try (0..<200).map { index in
                let connection = try Connection(port: stack.port)
                try connection.send(HTTPClient.requestBytes("GET", "/_test/slow?ms=500", headers: [("X-Request-Id", "c-\(index)")]))
                return connection
            }
            let responses = try connections.map { connection in
                defer { connection.close() }
                return try connection.readResponse()
            }
            let elapsed = Date().timeIntervalSince(started)
            #expect(responses.allSatisfy { $0.status == 200 })
            #expect(Set(responses.compactMap { $0.header("X-Request-Id") }).count == 200)
            // One after another they would take 100 s.
            #expect(elapsed < 20, "200 requests of 500 ms took \(elapsed) s")
        }

        @Test func workersStartAsTheLoadNeedsThemUpToTheLimit() throws {
            // 16 workers start with askd; 40 requests of 1 s at once need 40, and --threads allows 48.
            let stack = try Stack(askdArguments: ["--threads", "48"])
            let atStart = try Self.threadCount(of: stack.askd.pid)
            #expect(atStart < 16 + 8, "\(atStart) threads before any load")
            let started = Date()
            let statuses = try Connection.allAtOnce(
                port: stack.port, Array(repeating: HTTPClient.requestBytes("GET", "/_test/slow?ms=1000"), count: 40)
            ).map(\.status)
            let elapsed = Date().timeIntervalSince(started)
            #expect(statuses == Array(repeating: 200, count: 40))
            // With only the first 16 workers they would take 3 s (16, 16 and 8).
            #expect(elapsed < 2.5, "40 concurrent 1 s requests took \(elapsed) s: too few workers started")
            let afterLoad = try Self.threadCount(of: stack.askd.pid)
            #expect(afterLoad >= 40 && afterLoad < 48 + 8, "\(afterLoad) threads after 40 concurrent requests")
        }

        @Test func workersABurstStartedEndOnceIdle() throws {
            let stack = try Stack(askdArguments: ["--threads", "48"], environment: ["ASKD_IDLE_THREAD_SECONDS": "1"])
            let atStart = try Self.threadCount(of: stack.askd.pid)
            let statuses = try Connection.allAtOnce(
                port: stack.port, Array(repeating: HTTPClient.requestBytes("GET", "/_test/slow?ms=1000"), count: 40)
            ).map(\.status)
            #expect(statuses == Array(repeating: 200, count: 40))
            let afterLoad = try Self.threadCount(of: stack.askd.pid)
            #expect(afterLoad >= atStart + 20, "\(atStart) threads at the start, \(afterLoad) after 40 concurrent requests")
            // The 16 initial workers stay; those the burst started end a second after their last work.
            try waitUntil("the burst's workers end", seconds: 10) { (try? Self.threadCount(of: stack.askd.pid)) == atStart }
            // And the pool grows again when the load comes back.
            let again = try Connection.allAtOnce(
                port: stack.port, Array(repeating: HTTPClient.requestBytes("GET", "/_test/slow?ms=1000"), count: 40)
            ).map(\.status)
            #expect(again == Array(repeating: 200, count: 40))
            #expect(try Self.threadCount(of: stack.askd.pid) >= atStart + 20)
        }

        /// The `Threads:` line of /proc/PID/status.
        private static func threadCount(of pid: pid_t) throws -> Int {
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            let line = status.split(separator: "\n").first { $0.hasPrefix("Threads:") }
            return line.flatMap { Int($0.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        }

        @Test func aClientThatLeavesMidStreamDoesNotCostAWorker() throws {
            let threads = 4
            let stack = try Stack(askdArguments: ["--threads", "\(threads)"])
            // Twice as many abandoned streams as workers: each stream would run 60 s if nobody noticed.
            for _ in 0..<(threads * 2) {
                let connection = try Connection(port: stack.port, timeoutSeconds: 10)
                try connection.send(HTTPClient.requestBytes("GET", "/_test/stream?chunks=1200&interval_ms=50"))
                _ = try connection.read(until: "chunk 1\n")
                connection.close()
            }
            try waitUntil("askd logs every abandoned stream", seconds: 5) {
                stack.askdLog.components(separatedBy: "client=gone").count - 1 == threads * 2
            }

            // All the workers are free again: `threads` requests at once are answered together.
            let started = Date()
            let connections = try (0..<threads).map { _ in
                let connection = try Connection(port: stack.port, timeoutSeconds: 10)
                try connection.send(HTTPClient.requestBytes("GET", "/_test/slow?ms=1000"))
                return connection
            }
            let statuses = try connections.map { connection in
                defer { connection.close() }
                return try connection.readResponse().status
            }
            let elapsed = Date().timeIntervalSince(started)
            #expect(statuses == Array(repeating: 200, count: threads))
            #expect(elapsed < 1.9, "\(threads) concurrent 1 s requests took \(elapsed) s: some worker was still busy")
        }

        @Test func idleKeptAliveConnectionsDoNotPinWorkers() throws {
            // nginx keeps up to 128 idle connections to askd (fastcgi_keep_conn on); askd has 2 workers.
            let stack = try Stack(askdArguments: ["--threads", "2"])
            for round in 0..<3 {
                let started = Date()
                let statuses = try Connection.allAtOnce(
                    port: stack.port, Array(repeating: HTTPClient.requestBytes("GET", "/_test/slow?ms=100"), count: 8)
                ).map(\.status)
                let elapsed = Date().timeIntervalSince(started)
                #expect(statuses == Array(repeating: 200, count: 8), "round \(round)")
                // 8 requests of 100 ms on 2 workers: 0.4 s; a worker stuck on an idle connection never finishes.
                #expect(elapsed < 3, "round \(round) took \(elapsed) s")
            }
            // The connections nginx kept are still open and usable, one worker each time.
            try waitUntil("askd logs the requests") { stack.askdLog.components(separatedBy: "status=200").count - 1 >= 25 }
        }

        @Test func aStreamArrivesChunkByChunk() throws {
            let stack = try Stack()
            let connection = try Connection(port: stack.port)
            defer { connection.close() }
            let started = Date()
            try connection.send(HTTPClient.requestBytes("GET", "/_test/stream?chunks=5&interval_ms=400"))
            var received = try connection.read(until: "chunk 0\n")
            let firstChunk = Date().timeIntervalSince(started)
            #expect(firstChunk < 1.0, "the first chunk took \(firstChunk) s; the whole stream takes 2 s")
            #expect(!String(decoding: received, as: UTF8.self).contains("chunk 1"))
            while case let chunk = try connection.readSome(), !chunk.isEmpty { received += chunk }
            let response = try Connection.parse(received)
            #expect(response.status == 200)
            #expect(response.text == (0..<5).map { "chunk \($0)\n" }.joined())
        }
    }
}
