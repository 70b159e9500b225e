#if canImport(Glibc)
import Glibc
#endif
import Platform
import Testing

@testable import Upstream

/// askd's own HTTP/1.1 client against a scripted server on 127.0.0.1: what goes over the wire,
/// when connections are kept, and how failures end.
@Suite(.serialized) struct PlainHTTPClientTests {
    /// A server that answers each request on a connection with the next of `answers` (then
    /// closes the connection when that answer's `close` says so), counting connections.
    final class ScriptedServer: @unchecked Sendable {
        struct Answer {
            var bytes: String
            var close = false
            /// Seconds to wait before answering.
            var delay = 0.0
            /// Answer once the head has come, without reading the body.
            var early = false
        }

        let port: UInt16
        private let listener: Int32
        private let state = Locked<(connections: Int, requests: [String], closed: Int)>((0, [], 0))

        init(answers: [Answer]) throws {
            let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            try withUnsafeMutablePointer(to: &address) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                    guard bind(listener, address, length) == 0, listen(listener, 16) == 0, getsockname(listener, address, &length) == 0 else {
                        throw SystemError("bind")
                    }
                }
            }
            port = UInt16(bigEndian: address.sin_port)
            self.listener = listener
            let remaining = Locked(answers)
            let state = self.state
            try DetachedThread.start(name: "scripted-server") {
                while true {
                    let connection = accept(listener, nil, nil)
                    guard connection >= 0 else {
                        // Closed here, not in deinit: a descriptor number closed while this thread
                        // still served a connection could be the next server's listener by the time
                        // it called accept again.
                        close(listener)
                        return
                    }
                    state.withLock { $0.connections += 1 }
                    while let answer = remaining.withLock({ $0.first }), let request = Self.readRequest(connection, wholeBody: !answer.early) {
                        state.withLock { $0.requests.append(request) }
                        remaining.withLock { _ = $0.removeFirst() }
                        if answer.delay > 0 { usleep(UInt32(answer.delay * 1_000_000)) }
                        _ = Array(answer.bytes.utf8).withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                        if answer.close { break }
                    }
                    shutdown(connection, Int32(SHUT_WR))
                    state.withLock { $0.closed += 1 }
                    Self.closeLingering(connection)
                }
            }
        }

        deinit {
            // Refuses connections from now on, and ends the thread's accept.
            shutdown(listener, Int32(SHUT_RDWR))
        }

        var connections: Int { state.withLock { $0.connections } }
        var requests: [String] { state.withLock { $0.requests } }

        /// Waits (up to 5 s) until the server has closed `count` connections on its side.
        func waitForCloses(_ count: Int) {
            for _ in 0..<500 where state.withLock({ $0.closed }) < count { usleep(10_000) }
        }

        /// Closes as web servers do, once the caller shut down its side (the answer ends with a
        /// FIN): what the client still sends
        /// is read off for up to 2 s before the close, so that no reset makes its kernel drop the
        /// answer unread (a close with unread bytes sends one).
        private static func closeLingering(_ fd: Int32) {
            var limit = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while recv(fd, &chunk, chunk.count, 0) > 0 {}
            close(fd)
        }

        /// One request, head and `Content-Length` body; nil at the connection's end.
        private static func readRequest(_ fd: Int32, wholeBody: Bool) -> String? {
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4_096)
            while true {
                let text = String(decoding: bytes, as: UTF8.self)
                if let end = text.range(of: "\r\n\r\n") {
                    let head = text[..<end.lowerBound]
                    let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.dropFirst("content-length:".count).filter { $0 != " " }) } ?? 0
                    if !wholeBody || text.utf8.count - text.utf8.distance(from: text.startIndex, to: end.upperBound) >= length { return text }
                }
                let count = recv(fd, &chunk, chunk.count, 0)
                guard count > 0 else { return nil }
                bytes += chunk[..<count]
            }
        }
    }

    private static let okJSON = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

    private func client(_ server: ScriptedServer, timeoutSeconds: Int = 5) throws -> PlainHTTPClient {
        try #require(PlainHTTPClient(
            url: "http://127.0.0.1:\(server.port)/v1/chat/completions", headers: ["Authorization: Bearer key"],
            timeoutSeconds: timeoutSeconds, connectTimeoutSeconds: 2, bodyLimit: 1 << 20
        ))
    }

    /// The outcome of one exchange, waited for; every attempt's `mayRetry` in `attempts`.
    private func exchange(
        _ client: PlainHTTPClient, body: String = "{\"x\":1}", retry: Bool = false, attempts: Locked<[Bool]> = Locked([])
    ) -> Result<PlainHTTPClient.Reply, PlainHTTPClient.Failure> {
        let outcome = Handoff<Result<PlainHTTPClient.Reply, PlainHTTPClient.Failure>>()
        client.submit(body: Array(body.utf8)) { result, mayRetry in
            attempts.withLock { $0.append(mayRetry) }
            if retry && mayRetry { return true }
            outcome.put(result)
            return false
        }
        return outcome.take()
    }

    @Test func requestsGoOutWholeAndOneConnectionCarriesThemInTurn() throws {
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n"
        let server = try ScriptedServer(answers: [.init(bytes: Self.okJSON), .init(bytes: chunked)])
        let client = try client(server)
        let first = try exchange(client, body: "{\"n\":1}").get()
        #expect(first.status == 200 && first.body == Array("{}".utf8) && first.contentType == "application/json")
        let second = try exchange(client, body: "{\"n\":2}").get()
        #expect(String(decoding: second.body, as: UTF8.self) == "{\"a\":1}")
        #expect(server.connections == 1)
        let request = try #require(server.requests.first)
        #expect(request.hasPrefix("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n"))
        #expect(request.contains("\r\nAuthorization: Bearer key\r\nContent-Length: 7\r\n\r\n{\"n\":1}"))
    }

    @Test func aKeptConnectionTheUpstreamClosedWhileIdleIsNotUsed() throws {
        // The first answer leaves the connection open as far as the client knows, then the
        // server closes it: the next request sees that before it sends, and opens a new one.
        let server = try ScriptedServer(answers: [.init(bytes: Self.okJSON, close: true), .init(bytes: Self.okJSON)])
        let client = try client(server)
        _ = try exchange(client).get()
        server.waitForCloses(1)
        let attempts = Locked<[Bool]>([])
        #expect(try exchange(client, attempts: attempts).get().status == 200)
        #expect(server.connections == 2)
        #expect(server.requests.count == 2)
        #expect(attempts.withLock { $0 } == [true])
    }

    @Test func anAnswerCutShortIsBrokenNotRetried() throws {
        let cut = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"a\""
        let server = try ScriptedServer(answers: [.init(bytes: cut, close: true)])
        let result = exchange(try client(server))
        guard case .failure(.broken(let detail)) = result else {
            Issue.record("expected a broken exchange, got \(result)")
            return
        }
        #expect(detail.contains("closed the connection before the answer was complete"))
    }

    @Test func noAnswerWithinTheTimeoutTimesOut() throws {
        let server = try ScriptedServer(answers: [.init(bytes: Self.okJSON, delay: 3)])
        let started = MonotonicClock.now()
        let result = exchange(try client(server, timeoutSeconds: 1))
        let waited = MonotonicClock.now() - started
        guard case .failure(.timedOut) = result else {
            Issue.record("expected a timeout, got \(result)")
            return
        }
        #expect(waited >= 1 && waited < 2, "timed out after \(waited) s")
    }

    @Test func aRefusedConnectionFailsAsUnreachedAndMayBeRetriedOnce() throws {
        // A port nobody listens on: bound, then closed.
        let port = try { () throws -> UInt16 in
            let server = try ScriptedServer(answers: [])
            return server.port
        }()
        let client = try #require(PlainHTTPClient(
            url: "http://127.0.0.1:\(port)/v1/chat/completions", headers: [], timeoutSeconds: 5, connectTimeoutSeconds: 2, bodyLimit: 1 << 20
        ))
        let attempts = Locked<[Bool]>([])
        let result = exchange(client, retry: true, attempts: attempts)
        guard case .failure(.couldNotConnect) = result else {
            Issue.record("expected a refused connection, got \(result)")
            return
        }
        #expect(attempts.withLock { $0 } == [true, false])
    }

    @Test func bytesLeftAfterAnAnswerAreNeverReadAsTheNextOnes() throws {
        // The first answer comes with a second one after it (a misbehaving upstream): the
        // connection is not used again, and the next request gets its own answer.
        let doubled = Self.okJSON + "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n\"stray\""
        let second = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n\"second\""
        let server = try ScriptedServer(answers: [.init(bytes: doubled), .init(bytes: second)])
        let client = try client(server)
        #expect(try exchange(client).get().body == Array("{}".utf8))
        usleep(50_000)
        #expect(try String(decoding: exchange(client).get().body, as: UTF8.self) == "\"second\"")
        #expect(server.connections == 2)
    }

    @Test func aKeptConnectionClosedJustAsTheRequestWentOutIsReplaced() throws {
        // The server reads the second request and closes without a word: the request was sent
        // on a kept connection and failed at once, so it goes out again on a new one.
        let server = try ScriptedServer(answers: [.init(bytes: Self.okJSON), .init(bytes: "", close: true), .init(bytes: Self.okJSON)])
        let client = try client(server)
        _ = try exchange(client).get()
        let attempts = Locked<[Bool]>([])
        #expect(try exchange(client, attempts: attempts).get().status == 200)
        #expect(server.connections == 2)
        #expect(server.requests.count == 3)
        #expect(attempts.withLock { $0 } == [true], "sent again within one attempt, not retried")
    }

    @Test func anAnswerBeforeTheWholeBodyWasSentIsTheAnswer() throws {
        // 8 MiB the upstream does not read: it answers 413 after the head and closes.
        let refusal = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        let server = try ScriptedServer(answers: [.init(bytes: refusal, close: true, early: true)])
        let reply = try exchange(try client(server), body: String(repeating: "x", count: 8 << 20)).get()
        #expect(reply.status == 413)
    }

    @Test func aRetryWaitsAFractionOfASecond() throws {
        let port = try { () throws -> UInt16 in try ScriptedServer(answers: []).port }()
        let client = try #require(PlainHTTPClient(
            url: "http://127.0.0.1:\(port)/v1/chat/completions", headers: [], timeoutSeconds: 5, connectTimeoutSeconds: 2, bodyLimit: 1 << 20
        ))
        let started = MonotonicClock.now()
        _ = exchange(client, retry: true)
        let waited = MonotonicClock.now() - started
        #expect(waited >= 0.1 && waited < 0.5, "the retry came after \(waited) s")
    }

    @Test func callsAtOnceOnAColdClientWaitForTheOneLookup() throws {
        // The server closes each connection unanswered: every call ends broken, none with the
        // host "not resolved yet" while another thread's lookup is in flight.
        let server = try ScriptedServer(answers: [])
        let client = try #require(PlainHTTPClient(
            url: "http://localhost:\(server.port)/v1/chat/completions", headers: [], timeoutSeconds: 5, connectTimeoutSeconds: 2,
            bodyLimit: 1 << 20
        ))
        let outcomes = Locked<[Result<PlainHTTPClient.Reply, PlainHTTPClient.Failure>]>([])
        let done = Semaphore()
        let gate = Semaphore()
        for _ in 0..<32 {
            try DetachedThread.start(name: "cold-caller") {
                gate.wait()
                client.submit(body: Array("{}".utf8)) { result, _ in
                    outcomes.withLock { $0.append(result) }
                    done.post()
                    return false
                }
            }
        }
        usleep(100_000)
        for _ in 0..<32 { gate.post() }
        for _ in 0..<32 { done.wait() }
        let unresolved = outcomes.withLock { $0 }.filter { if case .failure(.couldNotConnect) = $0 { true } else { false } }
        #expect(unresolved.isEmpty, "\(unresolved.count) of 32 found no address: \(unresolved.first.map { "\($0)" } ?? "")")
    }
}
