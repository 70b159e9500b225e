import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// `POST /ask` with `"stream": true`, through nginx, against the local test upstream.
    @Suite struct StreamingThroughNginx {
        private func stack(_ upstream: FakeOpenAI, arguments: [String] = [], extra: [String: String] = [:]) throws -> Stack {
            try Stack(askdArguments: arguments, environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-upstream",
                "ASKD_MODEL": "test-model", "ASKD_UPSTREAM_TIMEOUT_SECONDS": "10",
            ].merging(extra) { $1 })
        }

        @Test func deltasArriveAsTheModelWritesThemAndTheTurnIsStored() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let token = try stack.createToken(name: "app")
            let stream = try EventStreamClient(port: stack.port, token: token, body: ##"{"prompt":"#drip 10 200","stream":true}"##)
            let head = try stream.head()
            #expect(head.contains("200 OK"))
            #expect(head.lowercased().contains("content-type: text/event-stream"))
            #expect(head.lowercased().contains("cache-control: no-cache"))
            let events = try stream.readAll()

            let deltas = events.filter { $0.event == nil }
            #expect(deltas.count == 10)
            // The upstream drips a chunk every 200 ms: the first must not wait for the rest.
            let firstDelta = try #require(deltas.first?.at)
            #expect(firstDelta < 0.5, "first delta after \(firstDelta) s")
            #expect(try #require(deltas.last?.at) > 1.6, "the deltas were buffered, not streamed")
            let text = try deltas.map { try #require($0.json["delta"] as? String) }.joined()
            #expect(text == (0..<10).map { "w\($0) " }.joined())

            let done = try #require(events.last)
            #expect(done.event == "done")
            let response = try #require(done.json["response"] as? [String: Any])
            #expect(response["message"] as? String == text)
            #expect(response["finish_reason"] as? String == "stop")
            #expect((response["usage"] as? [String: Any])?["completion_tokens"] as? Int == 10)
            let id = try #require(response["conversation_id"] as? String)

            // askd asked for a stream with usage, and stored exactly the concatenated deltas.
            let asked = try #require(try upstream.requests().first?.body)
            #expect(asked["stream"] as? Bool == true)
            #expect((asked["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true)
            let next = try stack.client.request(
                "POST", "/ask", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                body: Array(#"{"prompt":"and then?","conversation_id":"\#(id)"}"#.utf8)
            )
            #expect(next.status == 200)
            let history = try #require(try upstream.requests().last?.body["messages"] as? [[String: String]])
            #expect(history.map { $0["content"] ?? "" } == ["#drip 10 200", text, "and then?"])
        }

        @Test func aClientThatLeavesCutsTheUpstreamAndStoresNothing() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream, arguments: ["--threads", "4"])
            let token = try stack.createToken(name: "app")
            #expect(try stack.count("SELECT COUNT(*) FROM messages") == 0)

            // Twelve clients, three times the workers, each leaving after the second delta.
            let clients = try (0..<12).map { index in
                try EventStreamClient(port: stack.port, token: token, body: ##"{"prompt":"#drip 30 200 \##(index)","stream":true}"##)
            }
            var leftAt: [String: Double] = [:]
            for (index, client) in clients.enumerated() {
                _ = try client.head()
                _ = try #require(try client.next())
                _ = try #require(try client.next())
                client.close()
                leftAt["#drip 30 200 \(index)"] = Date().timeIntervalSince1970
            }
            try waitUntil("the upstream sees every stream closed", seconds: 5) { upstream.closedStreams().count == 12 }
            let closed = upstream.closedStreams()
            for (prompt, left) in leftAt {
                let seen = try #require(closed[prompt])
                #expect(seen - left < 1.0, "\(prompt): the upstream saw the close \(seen - left) s after the client left")
            }
            #expect(try stack.count("SELECT COUNT(*) FROM messages") == 0)
            #expect(try stack.count("SELECT COUNT(*) FROM conversations") == 0)
            try waitUntil("askd logs every client that left", seconds: 5) {
                stack.askdLog.components(separatedBy: "client=gone").count - 1 == 12
            }
            // The model was paid for what it wrote: each cut answer counts, estimated at 4 characters a token.
            let usage = try #require(try stack.client.get("/usage", headers: [("Authorization", "Bearer \(token)")]).json()["today"] as? [String: Any])
            #expect(usage["requests"] as? Int == 12)
            #expect((usage["completion_tokens"] as? Int ?? 0) >= 12 * 2)
            #expect((usage["prompt_tokens"] as? Int ?? 0) >= 12 * 4)

            // Every worker is free again: four slow asks at once all finish in about one round.
            let started = Date()
            let connections = try (0..<4).map { index in
                let connection = try Connection(port: stack.port, timeoutSeconds: 10)
                try connection.send(HTTPClient.requestBytes(
                    "POST", "/ask", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                    body: Array(##"{"prompt":"#slow 1 \##(index)"}"##.utf8)
                ))
                return connection
            }
            let statuses = try connections.map { connection in
                defer { connection.close() }
                return try connection.readResponse().status
            }
            let elapsed = Date().timeIntervalSince(started)
            #expect(statuses == [200, 200, 200, 200])
            #expect(elapsed < 1.9, "4 concurrent 1 s asks took \(elapsed) s: some worker was still busy")
        }

        /// An error object midway, or a stream cut off without its finish or `[DONE]`.
        @Test(arguments: ["#dripfail 6 20 3", "#dripcut 6 20 3"])
        func aFailureMidwayIsAnErrorEventAndStoresNothing(prompt: String) throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let token = try stack.createToken(name: "app")
            let events = try EventStreamClient(port: stack.port, token: token, body: #"{"prompt":"\#(prompt)","stream":true}"#).readAll()
            #expect(events.filter { $0.event == nil }.count == 3)
            let last = try #require(events.last)
            #expect(last.event == "error")
            #expect(last.json["error"] as? String == "the model could not answer")
            #expect(!events.contains { $0.event == "done" })
            #expect(try stack.count("SELECT COUNT(*) FROM messages") == 0)
            #expect(!last.data.contains("secret"))
            #expect(stack.askdLog.contains(prompt.hasPrefix("#dripfail") ? "broke midway" : "before the answer was complete"), "the cause goes to the log")
        }

        /// `ASKD_UPSTREAM_TIMEOUT_SECONDS` bounds each silence of a stream, before its first byte
        /// and between chunks: libcurl's own low-speed limit let a 1 s timeout pass silences of
        /// four seconds (up to the cap on the whole stream).
        @Test func theTimeoutBoundsTheModelsSilences() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream, extra: ["ASKD_UPSTREAM_TIMEOUT_SECONDS": "1"])
            let token = try stack.createToken(name: "app")

            let midway = try EventStreamClient(port: stack.port, token: token, body: ##"{"prompt":"#drip 3 4000","stream":true}"##).readAll()
            #expect(midway.filter { $0.event == nil }.count == 1, "the first delta came before the silence")
            let last = try #require(midway.last)
            #expect(last.event == "error")
            #expect(last.json["error"] as? String == "the model did not answer in time")
            #expect(last.at < 3, "the error came \(last.at) s after the request, after a 1 s limit")

            let started = Date()
            let before = try stack.client.request(
                "POST", "/ask", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                body: Array(##"{"prompt":"#slow 4","stream":true}"##.utf8)
            )
            #expect(before.status == 504)
            #expect(try before.json()["error"] as? String == "the model did not answer in time")
            #expect(Date().timeIntervalSince(started) < 3)
            #expect(try stack.count("SELECT COUNT(*) FROM messages") == 0)

            // The limit is on each silence, not on the whole: 2.1 s of chunks 0.3 s apart pass.
            let chatty = try EventStreamClient(port: stack.port, token: token, body: ##"{"prompt":"#drip 8 300","stream":true}"##).readAll()
            #expect(chatty.filter { $0.event == nil }.count == 8)
            #expect(chatty.last?.event == "done", "\(chatty.last.map { "\($0.event ?? "delta"): \($0.data)" } ?? "no events")")
            #expect(try stack.count("SELECT COUNT(*) FROM messages") == 2)
        }

        /// A stream askd cannot read (a line beyond its 1 MiB limit) is the model's failure: 502.
        @Test func anUnreadableStreamIs502() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let token = try stack.createToken(name: "app")
            let response = try stack.client.request(
                "POST", "/ask", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                body: Array(##"{"prompt":"#bigline","stream":true}"##.utf8)
            )
            #expect(response.status == 502)
            #expect(try response.json()["error"] as? String == "the model could not answer")
            #expect(stack.askdLog.contains("unreadable event stream"), "the cause goes to the log")
        }

        @Test func errorsBeforeTheFirstByteKeepTheirStatus() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let token = try stack.createToken(name: "app")
            func ask(_ body: String, token: String?) throws -> HTTPResponse {
                var headers = [("Content-Type", "application/json"), ("Accept", "text/event-stream")]
                if let token { headers.append(("Authorization", "Bearer \(token)")) }
                return try stack.client.request("POST", "/ask", headers: headers, body: Array(body.utf8))
            }
            let cases: [(String, String?, Int, String)] = [
                (#"{"prompt":"hi"}"#, nil, 401, "access token is required"),
                (#"{"prompt":"hi","stream":"yes"}"#, token, 400, "stream must be a boolean, not a string"),
                (#"{"prompt":"hi","conversation_id":"no-such-conversation"}"#, token, 404, "conversation not found"),
                (##"{"prompt":"#status 429"}"##, token, 429, "the model is rate-limited; try again later"),
                (##"{"prompt":"#status 401"}"##, token, 502, "upstream rejected askd's credentials"),
            ]
            for (body, token, status, message) in cases {
                let response = try ask(body, token: token)
                #expect(response.status == status, "\(body)")
                #expect(response.header("Content-Type") == "application/json", "\(body)")
                #expect(try response.json()["error"] as? String == message, "\(body)")
            }
            #expect(try ask(##"{"prompt":"#status 429"}"##, token: token).header("Retry-After") == "7")
        }

        @Test func usageAddsUpWhatTheUpstreamReportedPlainAndStreamed() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let alice = try stack.createToken(name: "alice")
            let bob = try stack.createToken(name: "bob")
            let headers = [("Authorization", "Bearer \(alice)"), ("Content-Type", "application/json")]
            var reported: [(Int, Int)] = []
            let plain = try stack.client.request("POST", "/ask", headers: headers, body: Array(#"{"prompt":"count my words please"}"#.utf8))
            let usage = try #require((try plain.json()["response"] as? [String: Any])?["usage"] as? [String: Any])
            reported.append((try #require(usage["prompt_tokens"] as? Int), try #require(usage["completion_tokens"] as? Int)))
            let streamed = try EventStreamClient(port: stack.port, token: alice, body: ##"{"prompt":"#drip 4 10","stream":true}"##).readAll()
            let final = try #require(streamed.last?.json["response"] as? [String: Any])
            let streamedUsage = try #require(final["usage"] as? [String: Any])
            reported.append((try #require(streamedUsage["prompt_tokens"] as? Int), try #require(streamedUsage["completion_tokens"] as? Int)))
            // A failed answer costs nothing here.
            _ = try stack.client.request("POST", "/ask", headers: headers, body: Array(##"{"prompt":"#status 500"}"##.utf8))

            let report = try stack.client.get("/usage", headers: headers)
            #expect(report.status == 200)
            let json = try report.json()
            let today = try #require(json["today"] as? [String: Any])
            let total = try #require(json["total"] as? [String: Any])
            #expect(total["requests"] as? Int == 2)
            #expect(total["prompt_tokens"] as? Int == reported.map(\.0).reduce(0, +))
            #expect(total["completion_tokens"] as? Int == reported.map(\.1).reduce(0, +))
            #expect(today["requests"] as? Int == 2)
            #expect((today["date"] as? String)?.count == 10)
            let bobs = try stack.client.get("/usage", headers: [("Authorization", "Bearer \(bob)")]).json()
            #expect((bobs["total"] as? [String: Any])?["requests"] as? Int == 0)
            #expect(try stack.client.get("/usage").status == 401)
        }

        @Test func silenceIsFilledWithCommentsUntilTheNextDelta() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream, extra: ["ASKD_STREAM_KEEPALIVE_SECONDS": "0.3"])
            let token = try stack.createToken(name: "app")
            let stream = try EventStreamClient(port: stack.port, token: token, body: ##"{"prompt":"#drip 2 1600","stream":true}"##)
            _ = try stream.head()
            let raw = try stream.readRaw()
            let comments = raw.components(separatedBy: "\n").filter { $0.hasPrefix(": keep-alive") }
            // 1.6 s of silence with a comment after every 0.3 s of it; libcurl calls back about
            // once a second at the slowest, so at least one, and never a flood.
            #expect(comments.count >= 1 && comments.count <= 6, "\(comments.count) comments")
            #expect(raw.contains("event: done"))
        }
    }

    /// The echo provider streams too, word by word, when the client asks with `Accept`.
    @Suite struct EchoStreamingThroughNginx {
        @Test func theEchoProviderStreamsWordByWord() throws {
            let stack = try Stack(environment: ["ASKD_PROVIDER": "echo"])
            let token = try stack.createToken(name: "app")
            let events = try EventStreamClient(port: stack.port, token: token, body: #"{"prompt":"one two three"}"#).readAll()
            let deltas = try events.filter { $0.event == nil }.map { try #require($0.json["delta"] as? String) }
            #expect(deltas == ["[echo", " provider]", " You", " said:", " one", " two", " three"])
            let response = try #require(events.last?.json["response"] as? [String: Any])
            #expect(response["message"] as? String == deltas.joined())
        }
    }
}

/// A client of one streamed `/ask`: an HTTP/1.0 request, so that nginx sends the body as it
/// comes, unchunked, and closes at the end. Events carry the time they arrived, from the request.
final class EventStreamClient {
    struct Event {
        var event: String?
        var data: String
        var at: Double
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]) ?? [:] }
    }

    private let connection: Connection
    private let started = Date()
    private var buffer: [UInt8] = []
    private var headText: String?

    init(port: UInt16, token: String, body: String, path: String = "/ask") throws {
        connection = try Connection(port: port)
        let request = "POST \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
            + "Accept: text/event-stream\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        try connection.send(Array(request.utf8))
    }

    private var closed = false

    deinit { close() }

    func close() {
        guard !closed else { return }
        closed = true
        connection.close()
    }

    /// The response head.
    func head() throws -> String {
        if let headText { return headText }
        let end = try until([13, 10, 13, 10])
        let text = String(decoding: buffer[..<end], as: UTF8.self)
        buffer.removeFirst(end + 4)
        headText = text
        return text
    }

    /// The next event (comments skipped); nil at the end of the stream.
    func next() throws -> Event? {
        _ = try head()
        while true {
            guard let end = try? until([10, 10]) else { return nil }
            let block = String(decoding: buffer[..<end], as: UTF8.self)
            buffer.removeFirst(end + 2)
            var event: String?
            var data: [String] = []
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
            }
            if data.isEmpty { continue }
            return Event(event: event, data: data.joined(separator: "\n"), at: Date().timeIntervalSince(started))
        }
    }

    func readAll() throws -> [Event] {
        var events: [Event] = []
        while let event = try next() { events.append(event) }
        return events
    }

    /// Everything after the head, to the end of the stream.
    func readRaw() throws -> String {
        _ = try head()
        while true {
            let chunk = try connection.readSome()
            if chunk.isEmpty { break }
            buffer += chunk
        }
        return String(decoding: buffer, as: UTF8.self)
    }

    /// The offset of `marker` in the buffer, reading until it arrives.
    private func until(_ marker: [UInt8]) throws -> Int {
        var searchFrom = 0
        while true {
            if buffer.count >= marker.count {
                for offset in searchFrom...(buffer.count - marker.count) where buffer[offset..<offset + marker.count].elementsEqual(marker) {
                    return offset
                }
                searchFrom = buffer.count - marker.count + 1
            }
            let chunk = try connection.readSome()
            guard !chunk.isEmpty else { throw ClientError("the stream ended") }
            buffer += chunk
        }
    }
}
