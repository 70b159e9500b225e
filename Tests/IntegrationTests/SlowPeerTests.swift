import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// Peers on askd's own socket that send nothing, stop midway, or stop reading hold no
    /// worker for longer than askd's read and send timeouts.
    @Suite struct SlowPeers {
        /// Three peers that connect and say nothing hold no worker: with two, /healthz through
        /// nginx keeps answering at once.
        @Test func silentPeersHoldNoWorker() throws {
            let stack = try Stack(askdArguments: ["--threads", "2"], environment: ["ASKD_REQUEST_READ_TIMEOUT_SECONDS": "30"])
            let silent = try (0..<3).map { _ in try FastCGIClient(socketPath: stack.socketPath) }
            Thread.sleep(forTimeInterval: 0.2)
            var times: [Double] = []
            for _ in 0..<200 {
                let start = Date()
                let response = try stack.client.get("/healthz")
                times.append(Date().timeIntervalSince(start))
                #expect(response.status == 200)
            }
            let p99 = times.sorted()[Int(Double(times.count) * 0.99) - 1]
            print("3 silent peers, 2 threads: /healthz p50 \(Self.ms(times.sorted()[times.count / 2])) ms, p99 \(Self.ms(p99)) ms")
            #expect(p99 <= 0.05, "p99 \(p99) s")
            withExtendedLifetime(silent) {}
        }

        /// A peer that begins a request and stops loses its connection after the read timeout,
        /// and its worker serves again.
        @Test func aStalledRequestIsClosedAfterTheReadTimeout() throws {
            let stack = try Stack(askdArguments: ["--threads", "1"], environment: ["ASKD_REQUEST_READ_TIMEOUT_SECONDS": "1"])
            let stalled = try FastCGIClient(socketPath: stack.socketPath)
            let params = [("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/_test/echo"), ("CONTENT_LENGTH", "100")]
            try stalled.send(params: params, stdin: Array(repeating: 65, count: 10), endStdin: false)
            let start = Date()
            // A 400 if askd's read timed out first, or no answer if the whole request's deadline
            // cut the connection first: either way, the connection is closed.
            if let answer = try? stalled.readResponse() {
                #expect(answer.hasPrefix("Status: 400"), "\(answer)")
                #expect(stalled.serverClosed(), "askd kept a stalled request's connection open")
            }
            let waited = Date().timeIntervalSince(start)
            #expect(waited >= 0.8 && waited < 2, "closed after \(waited) s")
            let healthStart = Date()
            #expect(try stack.client.get("/healthz").status == 200)
            #expect(Date().timeIntervalSince(healthStart) < 0.5, "the only worker is free again")
        }

        /// A peer that trickles a request, each byte well within the read timeout, still loses
        /// its connection once the whole request has taken longer than it.
        @Test func aTrickledRequestIsCutAfterTheReadTimeout() throws {
            let stack = try Stack(askdArguments: ["--threads", "1"], environment: ["ASKD_REQUEST_READ_TIMEOUT_SECONDS": "1"])
            let trickler = try FastCGIClient(socketPath: stack.socketPath)
            let params = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/healthz"), ("HTTP_X_PADDING", String(repeating: "p", count: 100))]
            let start = Date()
            #expect(throws: (any Error).self) { try trickler.send(params: params, stdin: [], pause: 0.05) }
            let cut = Date().timeIntervalSince(start)
            #expect(cut >= 0.9 && cut < 2.5, "cut after \(cut) s")
            let healthStart = Date()
            #expect(try stack.client.get("/healthz").status == 200)
            #expect(Date().timeIntervalSince(healthStart) < 0.5, "the only worker is free again")
        }

        /// A reader that takes nothing of a streamed answer is dropped once more than the
        /// channel's bound (1 MiB) waits for it, logged as gone, and the worker serves again.
        @Test func aReaderThatStopsReadingIsDroppedPastTheBound() throws {
            let stack = try Stack(askdArguments: ["--threads", "1"], environment: ["ASKD_SEND_TIMEOUT_SECONDS": "30"])
            let reader = try FastCGIClient(socketPath: stack.socketPath, receiveBuffer: 4096)
            let params = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/_test/stream"), ("QUERY_STRING", "chunks=200000&interval_ms=0")]
            let start = Date()
            try reader.send(params: params, stdin: [], keepConnection: false)
            try waitUntil("askd logs the reader as gone", seconds: 10) { stack.askdLog.contains("client=gone") }
            #expect(Date().timeIntervalSince(start) < 5, "dropped at the bound, long before the 30 s send timeout")
            let healthStart = Date()
            #expect(try stack.client.get("/healthz").status == 200)
            #expect(Date().timeIntervalSince(healthStart) < 1)
            withExtendedLifetime(reader) {}
        }

        /// One that takes nothing of an answer within the bound is dropped after the send
        /// timeout: the answer's bytes wait in askd, not in a thread blocked on the socket.
        @Test func aReaderThatStopsReadingIsDroppedAfterTheSendTimeout() throws {
            let stack = try Stack(askdArguments: ["--threads", "1"], environment: ["ASKD_SEND_TIMEOUT_SECONDS": "2"])
            let reader = try FastCGIClient(socketPath: stack.socketPath, receiveBuffer: 4096)
            // About 680 KB with their records: more than the socket's buffers hold, less than the bound.
            let params = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/_test/stream"), ("QUERY_STRING", "chunks=35000&interval_ms=0")]
            let start = Date()
            try reader.send(params: params, stdin: [], keepConnection: false)
            // Meanwhile the only worker serves others: the stream holds no thread.
            Thread.sleep(forTimeInterval: 0.3)
            let healthStart = Date()
            #expect(try stack.client.get("/healthz").status == 200)
            #expect(Date().timeIntervalSince(healthStart) < 1)
            #expect(!stack.askdLog.contains("client=gone"))
            try waitUntil("askd logs the reader as gone", seconds: 10) { stack.askdLog.contains("client=gone") }
            let dropped = Date().timeIntervalSince(start)
            #expect(dropped >= 1.9 && dropped < 5, "dropped after \(dropped) s")
            withExtendedLifetime(reader) {}
        }

        /// nginx takes a plain answer whole into its buffers: a client that does not read a
        /// large one holds no askd worker.
        @Test func aClientThatDoesNotReadAPlainAnswerHoldsNoWorker() throws {
            let stack = try Stack(askdArguments: ["--threads", "1"], environment: ["ASKD_SEND_TIMEOUT_SECONDS": "20"])
            let idle = try Connection(port: stack.port, timeoutSeconds: 10)
            try idle.send(HTTPClient.requestBytes("GET", "/_test/big?bytes=8000000"))
            Thread.sleep(forTimeInterval: 0.5)
            let start = Date()
            #expect(try stack.client.get("/healthz").status == 200)
            #expect(Date().timeIntervalSince(start) < 1, "the only worker was still writing the big answer")
            idle.close()
        }

        private static func ms(_ seconds: Double) -> String { String(format: "%.2f", seconds * 1000) }
    }
}
