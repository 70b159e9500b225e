import Testing

@testable import Upstream

@Suite struct HTTPResponseParserTests {
    /// Feeds `text` in pieces of `step` bytes; the parser and whether it said complete.
    private func parse(_ text: String, step: Int = .max, limit: Int = 1 << 20) throws -> (HTTPResponseParser, Bool) {
        var parser = HTTPResponseParser(bodyLimit: limit)
        let bytes = Array(text.utf8)
        var complete = false
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + step)
            complete = try bytes[start..<end].withUnsafeBytes { try parser.feed($0) }
            start = end
        }
        return (parser, complete)
    }

    @Test func endlessInterimResponsesAndTrailersRunIntoTheHeadLimit() {
        let interim = String(repeating: "HTTP/1.1 100 Continue\r\n\r\n", count: HTTPResponseParser.headLimit / 25 + 1)
        #expect(throws: HTTPResponseParser.Failure.tooLarge(limit: HTTPResponseParser.headLimit)) { try parse(interim, step: 1_000) }
        let trailers = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
            + String(repeating: "X-T: 1\r\n", count: HTTPResponseParser.headLimit / 8 + 1)
        #expect(throws: HTTPResponseParser.Failure.tooLarge(limit: HTTPResponseParser.headLimit)) { try parse(trailers, step: 1_000) }
    }

    @Test func aHeadArrivingAByteAtATimeIsScannedOnce() throws {
        let head = "HTTP/1.1 200 OK\r\n" + String(repeating: "X-Filler: abcdefghijklmnopqrstuvwxyz\r\n", count: 1_500) + "Content-Length: 0\r\n\r\n"
        let started = ContinuousClock.now
        #expect(try parse(head, step: 1).1)
        #expect(ContinuousClock.now - started < .seconds(5), "a 57 KB head fed byte by byte took \(ContinuousClock.now - started)")
    }

    @Test(arguments: [1, 2, 7, Int.max])
    func aContentLengthBodyInAnyPieces(step: Int) throws {
        let (parser, complete) = try parse(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\": true}", step: step
        )
        #expect(complete)
        #expect(parser.head?.status == 200)
        #expect(parser.head?.contentType == "application/json")
        #expect(String(decoding: parser.body, as: UTF8.self) == "{\"a\": true}")
        #expect(parser.connectionReusable)
    }

    @Test(arguments: [1, 3, Int.max])
    func aChunkedBodyWithExtensionsAndTrailers(step: Int) throws {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;name=x\r\nWiki\r\n0C\r\npedia in\r\n\r\n\r\n0\r\nX-Trailer: 1\r\n\r\n"
        let (parser, complete) = try parse(text, step: step)
        #expect(complete)
        #expect(String(decoding: parser.body, as: UTF8.self) == "Wikipedia in\r\n\r\n")
        #expect(parser.connectionReusable)
    }

    @Test func aBodyToTheConnectionsEndIsCompleteOnlyAtTheClose() throws {
        var (parser, complete) = try parse("HTTP/1.0 200 OK\r\n\r\nsome ")
        #expect(!complete)
        complete = try Array("text".utf8).withUnsafeBytes { try parser.feed($0) }
        #expect(!complete)
        let closed = parser.connectionClosed()
        #expect(closed)
        #expect(String(decoding: parser.body, as: UTF8.self) == "some text")
        #expect(!parser.connectionReusable)
    }

    @Test func anInterimResponseIsSkipped() throws {
        let (parser, complete) = try parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\n{}")
        #expect(complete)
        #expect(parser.head?.status == 429)
        #expect(parser.head?.retryAfter == "7")
    }

    @Test func connectionCloseAndHTTP10KeepAliveDecideReuse() throws {
        #expect(try !parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").0.connectionReusable)
        #expect(try !parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").0.connectionReusable)
        #expect(try parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n").0.connectionReusable)
        // Bytes after the response: the connection is not in a known state.
        #expect(try !parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy").0.connectionReusable)
    }

    @Test func aNoContentAnswerHasNoBody() throws {
        let (parser, complete) = try parse("HTTP/1.1 204 No Content\r\n\r\n")
        #expect(complete)
        #expect(parser.body.isEmpty)
    }

    @Test func bodiesPastTheLimitAreRefused() {
        #expect(throws: HTTPResponseParser.Failure.tooLarge(limit: 4)) {
            try parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n12345", limit: 4)
        }
        #expect(throws: HTTPResponseParser.Failure.tooLarge(limit: 4)) {
            try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", limit: 4)
        }
        #expect(throws: HTTPResponseParser.Failure.tooLarge(limit: 4)) {
            try parse("HTTP/1.1 200 OK\r\n\r\n12345", limit: 4)
        }
        #expect(throws: HTTPResponseParser.Failure.tooLarge(limit: HTTPResponseParser.headLimit)) {
            try parse("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: HTTPResponseParser.headLimit + 1), step: 4_096)
        }
    }

    @Test(arguments: [
        "HTTP/2 200\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nabcde\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    ])
    func malformedResponsesAreRefused(text: String) {
        #expect(throws: HTTPResponseParser.Failure.self) { try parse(text) }
    }

    @Test(arguments: [
        ("http://127.0.0.1:8080/v1/chat/completions", "127.0.0.1", "8080", "127.0.0.1:8080", "/v1/chat/completions"),
        ("http://localhost/chat/completions", "localhost", "80", "localhost", "/chat/completions"),
        ("http://[::1]:9000/x", "::1", "9000", "[::1]:9000", "/x"),
    ])
    func plainEndpoints(url: String, host: String, port: String, authority: String, path: String) throws {
        let endpoint = try #require(PlainHTTPEndpoint(url: url))
        #expect([endpoint.host, endpoint.port, endpoint.authority, endpoint.path] == [host, port, authority, path])
    }

    @Test(arguments: [
        "https://api.openai.com/v1/chat/completions", "http://user:secret@host/v1", "http://host/v1?api-version=1",
        "http://host:0/v1", "http://host:99999/v1", "http:///v1", "http://[::1/v1",
    ])
    func urlsLeftToLibcurl(url: String) {
        #expect(PlainHTTPEndpoint(url: url) == nil)
    }
}
