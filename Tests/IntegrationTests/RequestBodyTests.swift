import Foundation
import Testing

extension IntegrationTests {
    @Suite struct RequestBodies {
        static let limit = 1 << 20

        @Test func aTwoMebibyteBodyGets413JSON() throws {
            let stack = try Stack()
            let response = try stack.client.request("POST", "/_test/echo", body: [UInt8](repeating: 65, count: 2 << 20))
            #expect(response.status == 413)
            #expect(try response.json()["error"] is String)
        }

        @Test func askdRejectsABodyJustOverItsLimitWithoutReadingIt() throws {
            let stack = try Stack()
            let response = try stack.client.request(
                "POST", "/_test/echo", headers: [("X-Request-Id", "big-1")], body: [UInt8](repeating: 65, count: Self.limit + 1)
            )
            #expect(response.status == 413)
            #expect(response.header("X-Request-Id") == "big-1", "askd, not nginx, answered")
            #expect(try response.json()["error"] as? String == "request body is larger than the limit of 1048576 bytes")
        }

        @Test func aRejectedBodyDoesNotSpoilTheKeptAliveConnection() throws {
            // One worker, so every request after a 413 would land on a connection with unread input.
            let stack = try Stack(askdArguments: ["--threads", "1"])
            for round in 0..<5 {
                let rejected = try stack.client.request("POST", "/_test/echo", body: [UInt8](repeating: 67, count: Self.limit + 1 + round))
                #expect(rejected.status == 413)
                let echoed = try stack.client.request("POST", "/_test/echo", body: Array("{\"n\":\(round)}".utf8))
                #expect(echoed.status == 200, "round \(round)")
                #expect(try echoed.json()["bytes"] as? Int == 7)
                #expect(try stack.client.get("/healthz").status == 200, "round \(round)")
            }
        }

        @Test func askdClosesAKeptConnectionWhoseBodyItDidNotRead() throws {
            let stack = try Stack(askdArguments: ["--threads", "2"])
            let params = [("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/_test/echo"), ("CONTENT_LENGTH", String(Self.limit + 10))]

            let client = try FastCGIClient(socketPath: stack.socketPath)
            try client.send(params: params, stdin: Array(repeating: 1, count: 1000), endStdin: false)
            let answer = try client.readResponse()
            #expect(answer.hasPrefix("Status: 413"))
            // The unread body would be taken for the next request: the connection must end here.
            #expect(client.serverClosed())

            // A request that was read in full keeps its connection for the next one.
            let kept = try FastCGIClient(socketPath: stack.socketPath)
            for round in 0..<3 {
                let body = Array("round \(round)".utf8)
                try kept.send(params: [("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/_test/echo"), ("CONTENT_LENGTH", String(body.count))], stdin: body)
                let echoed = try kept.readResponse()
                #expect(echoed.hasPrefix("Status: 200"), "round \(round)")
                #expect(echoed.contains(#"{"bytes":7}"#), "round \(round)")
            }
            #expect(!kept.serverClosed())
        }

        @Test func theEndOfABodyArrivingLateDoesNotCostTheNextRequest() throws {
            let stack = try Stack(askdArguments: ["--threads", "2"])
            let client = try FastCGIClient(socketPath: stack.socketPath)
            let body = Array("late end".utf8)
            let post = [("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/_test/echo"), ("CONTENT_LENGTH", String(body.count))]
            // The body, then (later) its end record; then, as nginx does, the next request on the
            // same connection once the answer is in.
            try client.send(params: post, stdin: body, endStdin: false)
            usleep(200_000)
            try client.sendEndOfStdin()
            #expect(try client.readResponse().contains(#"{"bytes":8}"#))
            try client.send(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/healthz")], stdin: [])
            #expect(try client.readResponse().contains(#"{"status":"ok"}"#))
        }

        @Test func aBodyCutOffMidwayIsRejectedNotUsed() throws {
            let stack = try Stack(askdArguments: ["--threads", "2"])
            let client = try FastCGIClient(socketPath: stack.socketPath)
            // No CONTENT_LENGTH (nginx with request buffering off), part of a body, then the peer goes.
            try client.send(params: [("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/_test/echo")], stdin: Array("prompt=hello wor".utf8), endStdin: false)
            client.halfClose()
            let answer = try client.readResponse()
            #expect(answer.hasPrefix("Status: 400"), "\(answer)")
            try waitUntil("askd logs it") { stack.askdLog.contains("path=/_test/echo") }
            #expect(stack.askdLog.contains("path=/_test/echo status=400"))
        }

        @Test func aBodyAtTheLimitIsRead() throws {
            let stack = try Stack()
            let response = try stack.client.request("POST", "/_test/echo", body: [UInt8](repeating: 66, count: Self.limit))
            #expect(response.status == 200)
            #expect(try response.json()["bytes"] as? Int == Self.limit)
        }

        @Test func theLimitFollowsASKD_MAX_BODY_BYTES() throws {
            let stack = try Stack(environment: ["ASKD_MAX_BODY_BYTES": "1000"])
            #expect(try stack.client.request("POST", "/_test/echo", body: [UInt8](repeating: 1, count: 1000)).status == 200)
            let over = try stack.client.request("POST", "/_test/echo", body: [UInt8](repeating: 1, count: 1001))
            #expect(over.status == 413)
            #expect(over.text.contains("1000 bytes"))
        }

        @Test func aChunkedBodyIsReadInFull() throws {
            let stack = try Stack()
            let chunked = Array("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".utf8)
            let response = try stack.client.request("POST", "/_test/echo", headers: [("Transfer-Encoding", "chunked")], body: chunked)
            #expect(response.status == 200)
            #expect(try response.json()["bytes"] as? Int == 11)
        }

        @Test func malformedRequestsGetJSONErrors() throws {
            let stack = try Stack()
            let garbage = try Connection(port: stack.port)
            try garbage.send(Array("NOT A REQUEST\r\n\r\n".utf8))
            let garbageResponse = try garbage.readResponse()
            garbage.close()
            #expect(garbageResponse.status == 400)
            #expect(try garbageResponse.json()["error"] is String)

            let badLength = try Connection(port: stack.port)
            try badLength.send(Array("POST /_test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n".utf8))
            let badLengthResponse = try badLength.readResponse()
            badLength.close()
            #expect(badLengthResponse.status == 400)
            #expect(try badLengthResponse.json()["error"] is String)

            let badEncoding = try stack.client.get("/conversation/%FF%FE")
            #expect(badEncoding.status == 404)
            #expect(try badEncoding.json()["error"] is String)

            let hugeURI = try stack.client.get("/conversation/" + String(repeating: "a", count: 9000))
            #expect([404, 414].contains(hugeURI.status))
            #expect(try hugeURI.json()["error"] is String)

            let hugeHeader = try stack.client.request("GET", "/usage", headers: [("Authorization", String(repeating: "a", count: 20_000))])
            #expect(hugeHeader.status == 400)
            #expect(try hugeHeader.json()["error"] as? String == "the request headers are too large")

            // nginx would redirect /conversation to /conversation/ with an HTML page: askd answers.
            let noSlash = try stack.client.get("/conversation")
            #expect(noSlash.status == 404)
            #expect(noSlash.header("X-Request-Id") != nil, "askd answered: \(noSlash)")
            #expect(try noSlash.json()["error"] is String)

            // The server is still fine afterwards.
            #expect(try stack.client.get("/healthz").status == 200)
        }

        @Test func aClientThatSendsHalfABodyAndLeavesCostsNothing() throws {
            let stack = try Stack(askdArguments: ["--threads", "2"])
            for _ in 0..<4 {
                let connection = try Connection(port: stack.port)
                try connection.send(Array("POST /_test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nhalf".utf8))
                connection.close()
            }
            for _ in 0..<4 { #expect(try stack.client.get("/healthz").status == 200) }
        }
    }
}
