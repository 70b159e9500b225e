import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// Issue 16, "No request can crash or wedge askd": anyone holding a token may send anything.
    /// Every case of `HostileRequests.cases` goes through nginx to one askd (the openai provider,
    /// against the fake upstream; on SQLite, then on PostgreSQL), one at a time and then eight at a time; each answer must be a
    /// 2xx or 4xx with a JSON body, and the same askd process must still answer `/healthz` at the end.
    @Suite struct HostileRequests {
        @Test(arguments: ["sqlite", "postgresql"])
        func noCraftedRequestCrashesOrWedgesAskd(store: String) throws {
            let upstream = try FakeOpenAI()
            var environment = [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-hostile",
                "ASKD_MODEL": "test-model", "ASKD_UPSTREAM_TIMEOUT_SECONDS": "5",
            ]
            if store == "postgresql" { environment["ASKD_DATABASE"] = try PostgresCluster.shared.createDatabase() }
            let stack = try Stack(environment: environment)
            let token = try stack.createToken(name: "hostile")
            let methodsToken = try stack.createToken(name: "methods")
            let table = Table(
                token: token, conversation: try Self.start(stack, token),
                methodsToken: methodsToken, methodsConversation: try Self.start(stack, methodsToken)
            )
            let pid = stack.askd.pid
            let startTime = try Self.startTime(of: pid)
            let cases = table.cases
            #expect(cases.count >= 200, "\(cases.count) crafted requests")

            for item in cases {
                do {
                    for problem in item.problems(with: try item.send(port: stack.port)) {
                        Issue.record("\(item.name): \(problem)")
                    }
                } catch {
                    Issue.record("\(item.name): \(error)")
                }
                guard stack.askd.isRunning else {
                    Issue.record("askd (pid \(pid)) exited with status \(stack.askd.exitStatus ?? -1) after \(item.name): \(stack.askdLog.suffix(2000))")
                    return
                }
            }

            // The whole table again, eight requests at a time: no mix of them wedges askd either.
            let lanes = (0..<8).map { _ in Shared<[String]>([]) }  // each lane writes only its own
            let port = stack.port
            DispatchQueue.concurrentPerform(iterations: lanes.count) { lane in
                let problems = lanes[lane]
                for item in stride(from: lane, to: cases.count, by: lanes.count).map({ cases[$0] }) {
                    do {
                        let found = item.problems(with: try item.send(port: port))
                        if !found.isEmpty { problems.value += found.map { "\(item.name) (concurrently): \($0)" } }
                    } catch {
                        problems.value += ["\(item.name) (concurrently): \(error)"]
                    }
                }
            }
            for problem in lanes.flatMap(\.value) { Issue.record("\(problem)") }
            #expect(stack.askd.isRunning, "askd (pid \(pid)) exited: \(stack.askdLog.suffix(2000))")

            #expect(try Self.startTime(of: pid) == startTime, "askd is still process \(pid)")
            let health = try stack.client.get("/healthz")
            #expect(health.status == 200)
            #expect(try health.json()["status"] as? String == "ok")
            #expect(!stack.askdLog.contains("Fatal error"), "\(stack.askdLog.suffix(2000))")
        }

        /// A conversation of `token`'s, started with a plain /ask.
        private static func start(_ stack: Stack, _ token: String) throws -> String {
            let response = try stack.client.request(
                "POST", "/ask", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                body: Array(#"{"prompt":"the conversation the hostile cases use"}"#.utf8)
            )
            try #require(response.status == 200, "\(response.text)")
            return try #require((try response.json()["response"] as? [String: Any])?["conversation_id"] as? String)
        }

        /// The process's start time in clock ticks since boot (/proc/PID/stat, field 22): a pid that
        /// was reused would show another.
        private static func startTime(of pid: pid_t) throws -> String {
            let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
            // Fields after the command (which may hold spaces) start after its closing parenthesis.
            let fields = try #require(stat.split(separator: ")").last).split(separator: " ")
            return String(fields[19])
        }
    }
}

extension IntegrationTests.HostileRequests {
    /// The crafted requests, by category.
    struct Table {
        let token: String
        let conversation: String
        /// The method matrix runs under a token of its own: its DELETEs must not take the other
        /// cases' conversation away.
        let methodsToken: String
        let methodsConversation: String

        var cases: [HostileRequest] {
            numbers + cursors + jsonBodies + encodings + headerCases + methodMatrix + authorizations + contentTypes + framing
                + testRoutes
        }

        // MARK: Helpers

        private var auth: (String, String) { ("Authorization", "Bearer \(token)") }

        private func get(_ name: String, _ target: String, statuses: Set<Int>? = nil) -> HostileRequest {
            HostileRequest(name, "GET", target, headers: [auth], statuses: statuses)
        }

        private func askJSON(_ name: String, _ body: String, statuses: Set<Int>? = nil) -> HostileRequest {
            askJSON(name, Array(body.utf8), statuses: statuses)
        }

        private func askJSON(_ name: String, _ body: [UInt8], statuses: Set<Int>? = nil) -> HostileRequest {
            HostileRequest(name, "POST", "/ask", headers: [auth, ("Content-Type", "application/json")], body: body, statuses: statuses)
        }

        private func askForm(_ name: String, _ body: String, statuses: Set<Int>? = nil) -> HostileRequest {
            HostileRequest(
                name, "POST", "/ask", headers: [auth, ("Content-Type", "application/x-www-form-urlencoded")], body: Array(body.utf8),
                statuses: statuses
            )
        }

        private func patch(_ name: String, _ body: [UInt8], statuses: Set<Int>? = nil) -> HostileRequest {
            HostileRequest(
                name, "PATCH", "/conversation/\(conversation)", headers: [auth, ("Content-Type", "application/json")], body: body,
                statuses: statuses
            )
        }

        /// `request` with `target` replaced by raw bytes (invalid UTF-8, NUL).
        private func raw(_ request: HostileRequest, target: [UInt8]) -> HostileRequest {
            var request = request
            request.target = target
            return request
        }

        /// `request` with one more header, its value raw bytes.
        private func adding(_ name: String, _ value: [UInt8], to request: HostileRequest) -> HostileRequest {
            var request = request
            request.headers.append((Array(name.utf8), value))
            return request
        }

        static func base64URL(_ bytes: [UInt8]) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }

        static let fourHundredDigits = String(repeating: "9", count: 400)

        /// Every numeric parameter gets each of these.
        static let extremes: [(label: String, text: String)] = [
            ("0", "0"), ("-1", "-1"), ("2^31", "2147483648"), ("2^63", "9223372036854775808"), ("1e308", "1e308"), ("NaN", "NaN"),
            ("Infinity", "Infinity"), ("-0", "-0"), ("1e", "1e"), ("0x10", "0x10"), ("400 digits", fourHundredDigits),
        ]

        // MARK: Numeric parameters

        private var numbers: [HostileRequest] {
            var cases: [HostileRequest] = []
            for (label, text) in Self.extremes {
                let encoded = text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
                cases.append(get("GET /conversations?limit=\(label)", "/conversations?limit=\(encoded)", statuses: [400]))
                cases.append(get("GET /conversation/{id}?limit=\(label)", "/conversation/\(conversation)?limit=\(encoded)"))
                let validTemperature = ["0", "-0"].contains(text)
                cases.append(askJSON(
                    "/ask JSON temperature \(label)", #"{"prompt":"t","temperature":\#(text)}"#, statuses: [validTemperature ? 200 : 400]
                ))
                cases.append(askJSON("/ask JSON max_tokens \(label)", #"{"prompt":"t","max_tokens":\#(text)}"#, statuses: [400]))
                cases.append(askForm(
                    "/ask form temperature \(label)", "prompt=t&temperature=\(encoded)", statuses: [validTemperature ? 200 : 400]
                ))
                cases.append(askForm("/ask form max_tokens \(label)", "prompt=t&max_tokens=\(encoded)", statuses: [400]))
            }
            // The same numbers as JSON strings: a JSON body must send numbers as numbers.
            cases.append(askJSON("/ask JSON temperature as a string", #"{"prompt":"t","temperature":"1"}"#, statuses: [400]))
            cases.append(askJSON("/ask JSON max_tokens 1.5", #"{"prompt":"t","max_tokens":1.5}"#, statuses: [400]))
            cases.append(askJSON("/ask JSON max_tokens 4097", #"{"prompt":"t","max_tokens":4097}"#, statuses: [400]))
            cases.append(askJSON("/ask JSON max_tokens 4096 and temperature 2", #"{"prompt":"t","max_tokens":4096,"temperature":2}"#, statuses: [200]))
            cases.append(askJSON("/ask JSON temperature 1e-400 (underflows to 0)", #"{"prompt":"t","temperature":1e-400}"#, statuses: [200]))
            cases.append(askJSON("/ask JSON temperature 2.0000000000000001 (rounds to 2)", #"{"prompt":"t","temperature":2.0000000000000001}"#))
            // Accept's q is a number too; a q that reads as above 0 streams.
            for q in ["NaN", "1e999", "-0", "-1", Self.fourHundredDigits, "0x10"] {
                var request = askJSON("/ask Accept text/event-stream;q=\(q.prefix(12))", #"{"prompt":"q"}"#, statuses: [200])
                request.headers.append((Array("Accept".utf8), Array("text/event-stream;q=\(q)".utf8)))
                request.mayStream = true
                cases.append(request)
            }
            return cases
        }

        // MARK: Cursors

        private var cursors: [HostileRequest] {
            let decoded: [(label: String, bytes: [UInt8])] = [
                ("Int64.max", Array("9223372036854775807.a".utf8)),
                ("Int64.min", Array("-9223372036854775808.a".utf8)),
                ("1e308", Array("1e308.a".utf8)),
                ("NaN", Array("NaN.a".utf8)),
                ("23 nines", Array("99999999999999999999999.a".utf8)),
                ("an empty id", Array("1700000000000.".utf8)),
                ("no dot", Array("1700000000000".utf8)),
                ("400 digits", Array("\(Self.fourHundredDigits).a".utf8)),
                ("invalid UTF-8", [0xFF, 0xFE, 0x2E, 0x61]),
                ("invalid UTF-8 in the id", Array("1700000000000.".utf8) + [0xC0, 0xAF]),
                ("NUL in the id", Array("1700000000000.a".utf8) + [0, 0x62]),
                ("-1", Array("-1.a".utf8)),
                ("-0", Array("-0.a".utf8)),
                ("+5", Array("+5.a".utf8)),
                ("year 10000", Array("253402300800000.a".utf8)),
                ("the last millisecond of 9999", Array("253402300799999.a".utf8)),
                ("0", Array("0.a".utf8)),
                ("a 65-character id", Array("1700000000000.\(String(repeating: "a", count: 65))".utf8)),
                ("an id with a slash", Array("1700000000000.a/b".utf8)),
                ("two dots", Array("1700000000000.a.b".utf8)),
                ("only a dot", Array(".".utf8)),
                ("empty", []),
            ]
            var cases: [HostileRequest] = []
            for (label, bytes) in decoded {
                let valid = ["the last millisecond of 9999", "0", "-0", "+5"].contains(label)
                cases.append(get("GET /conversations cursor of \(label)", "/conversations?cursor=\(Self.base64URL(bytes))", statuses: valid ? [200] : [400]))
            }
            let garbage: [(label: String, text: String)] = [
                ("%%%", "%%%"), ("====", "===="), ("one character", "a"), ("padding", "YWJj="), ("standard base64 + and /", "+/+/"),
                ("%FF", "%FF"), ("%00", "%00"), ("10,000 characters", String(repeating: "A", count: 10_000)),
                ("201 characters", String(repeating: "A", count: 201)), ("spaces", "a+b+c"), ("unicode", "%C3%A9t%C3%A9"),
                ("a cursor twice", "\(Self.base64URL(Array("0.a".utf8)))&cursor=%FF"),
            ]
            for (label, text) in garbage {
                cases.append(get("GET /conversations garbage cursor \(label)", "/conversations?cursor=\(text)"))
            }
            cases.append(get("GET /conversations cursor of Int64.max and limit=100", "/conversations?limit=100&cursor=\(Self.base64URL(Array("9223372036854775807.a".utf8)))", statuses: [400]))
            cases.append(get("GET /conversation/{id} garbage cursor", "/conversation/\(conversation)?cursor=%%%"))
            cases.append(get("GET /conversation/{id} cursor of Int64.max", "/conversation/\(conversation)?cursor=\(Self.base64URL(Array("9223372036854775807.a".utf8)))"))
            cases.append(get("GET /conversation/{id} cursor of Int64.min", "/conversation/\(conversation)?cursor=\(Self.base64URL(Array("-9223372036854775808.a".utf8)))"))
            cases.append(get("GET /conversation/{id} before=2^63", "/conversation/\(conversation)?before=9223372036854775808"))
            return cases
        }

        // MARK: JSON bodies

        private var jsonBodies: [HostileRequest] {
            let open = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
            let close = [UInt8](repeating: UInt8(ascii: "]"), count: 100_000)
            var wide = Array(#"{"prompt":"wide""#.utf8)
            var widePatch = Array("{".utf8)
            for index in 0..<100_000 {
                let member = Array(#","\#(String(index, radix: 36))":0"#.utf8)
                wide += member
                widePatch += index == 0 ? Array(member.dropFirst()) : member
            }
            wide += Array("}".utf8)
            widePatch += Array("}".utf8)
            let deepObjects = Array(String(repeating: #"{"a":"#, count: 100_000).utf8) + Array("1".utf8)
                + [UInt8](repeating: UInt8(ascii: "}"), count: 100_000)
            let longArray = Array(#"{"prompt":"long","extra":["#.utf8) + Array(repeating: Array("0,".utf8), count: 200_000).flatMap { $0 } + Array("0]}".utf8)

            var cases: [HostileRequest] = [
                askJSON("/ask 100,000 nested arrays", open + close, statuses: [400]),
                askJSON("/ask 100,000 nested arrays in prompt", Array(#"{"prompt":"#.utf8) + open + close + Array("}".utf8), statuses: [400]),
                askJSON("/ask 100,000 unclosed arrays", open, statuses: [400]),
                askJSON("/ask 100,000 nested objects", deepObjects, statuses: [400]),
                askJSON("/ask 17 nested arrays", Array(#"{"prompt":"x","a":"#.utf8) + Array(open.prefix(16)) + Array(close.prefix(16)) + Array("}".utf8), statuses: [400]),
                askJSON("/ask 100,000 keys", wide, statuses: [200]),
                askJSON("/ask an array of 200,001 numbers", longArray, statuses: [200]),
                patch("PATCH 100,000 keys", widePatch, statuses: [400]),
                patch("PATCH 100,000 nested arrays", open + close, statuses: [400]),
                askJSON("/ask duplicate prompt keys", #"{"prompt":"first","prompt":"second"}"#, statuses: [200]),
                askJSON("/ask duplicate keys, the last null", #"{"prompt":"first","prompt":null}"#, statuses: [400]),
                askJSON("/ask duplicate conversation_id keys", #"{"prompt":"x","conversation_id":"no-such","conversation_id":"\#(conversation)"}"#, statuses: [200]),
                askJSON("/ask duplicate stream keys", #"{"prompt":"x","stream":true,"stream":false}"#, statuses: [200]),
                patch("PATCH duplicate title keys", Array(#"{"title":"a","title":"b"}"#.utf8), statuses: [200]),
                askJSON("/ask prompt of 1,000,000 characters", #"{"prompt":"\#(String(repeating: "a", count: 1_000_000))"}"#, statuses: [400]),
                askJSON("/ask prompt of 150,000 escapes", #"{"prompt":"\#(String(repeating: #"\u00e9"#, count: 150_000))"}"#, statuses: [400]),
                askJSON("/ask prompt of 32,000 characters", #"{"prompt":"\#(String(repeating: "b", count: 32_000))"}"#, statuses: [200]),
                askJSON("/ask prompt of 400,000 combining marks", #"{"prompt":"e\#(String(repeating: "\u{301}", count: 400_000))"}"#, statuses: [400]),
                askJSON("/ask title of 900,000 characters", #"{"prompt":"x","title":"\#(String(repeating: "t", count: 900_000))"}"#, statuses: [400]),
                askJSON("/ask system of 900,000 characters", #"{"prompt":"x","system":"\#(String(repeating: "s", count: 900_000))"}"#, statuses: [400]),
                askJSON("/ask model of 900,000 characters", #"{"prompt":"x","model":"\#(String(repeating: "m", count: 900_000))"}"#, statuses: [400]),
                askJSON("/ask conversation_id of 900,000 characters", #"{"prompt":"x","conversation_id":"\#(String(repeating: "c", count: 900_000))"}"#, statuses: [400]),
                askJSON("/ask a body just over 1 MiB", #"{"prompt":"\#(String(repeating: "o", count: 1 << 20))"}"#, statuses: [413]),
                askJSON("/ask a body of 3 MiB", #"{"prompt":"\#(String(repeating: "o", count: 3 << 20))"}"#, statuses: [413]),
                patch("PATCH title of 900,000 characters", Array(#"{"title":"\#(String(repeating: "t", count: 900_000))"}"#.utf8), statuses: [400]),
            ]
            let numbers = ["1e999", "-1e999", "1e-999", Self.fourHundredDigits, "-\(Self.fourHundredDigits)", "0.\(String(repeating: "0", count: 400))1",
                           "01", "-", "1.", ".5", "+1", "1E+2", "-0.0e-0", "1e0000000000000000000001"]
            for number in numbers {
                cases.append(askJSON("/ask extra field \(number.prefix(24))", #"{"prompt":"n","n":\#(number)}"#))
                cases.append(askJSON("/ask prompt \(number.prefix(24))", #"{"prompt":\#(number)}"#, statuses: [400]))
            }
            let invalid: [(label: String, body: String)] = [
                ("{", "{"), ("}", "}"), ("missing value", #"{"prompt":}"#), ("trailing comma", #"{"prompt":"x",}"#),
                ("trailing garbage", #"{"prompt":"x"} x"#), ("two objects", #"{"prompt":"x"}{"prompt":"y"}"#), ("array", "[]"),
                ("string", #""prompt""#), ("null", "null"), ("number", "123"), ("true", "true"), ("lone high surrogate", #"{"prompt":"\ud800"}"#),
                ("lone low surrogate", #"{"prompt":"\udc00"}"#), ("high surrogate then a letter", #"{"prompt":"\ud800\u0041"}"#),
                ("short \\u escape", #"{"prompt":"\u00"}"#), ("unknown escape", #"{"prompt":"\x41"}"#), ("single quotes", "{'prompt':'x'}"),
                ("a raw tab in a string", "{\"prompt\":\"a\tb\"}"), ("a raw newline in a string", "{\"prompt\":\"a\nb\"}"),
                ("unquoted key", "{prompt:\"x\"}"), ("a BOM first", "\u{FEFF}{\"prompt\":\"x\"}"), ("whitespace only", " \t\r\n "),
                ("comment", #"{"prompt":"x"/* c */}"#), ("NaN literal", #"{"prompt":"x","temperature":NaN}"#),
                ("unterminated string", #"{"prompt":"x"#), ("backslash at the end", #"{"prompt":"x\"#), ("tru", #"{"prompt":"x","stream":tru}"#),
                ("nul literal", #"{"prompt":nul}"#), ("non-string key", #"{1:"x"}"#),
            ]
            for (label, body) in invalid {
                cases.append(askJSON("/ask invalid JSON: \(label)", body, statuses: [400]))
            }
            cases.append(askJSON("/ask an empty JSON body", "", statuses: [400]))
            cases.append(patch("PATCH invalid JSON", Array(#"{"title":"#.utf8), statuses: [400]))
            cases.append(patch("PATCH a JSON array", Array("[1,2]".utf8), statuses: [400]))
            cases.append(patch("PATCH title 1e999", Array(#"{"title":1e999}"#.utf8), statuses: [400]))
            return cases
        }

        // MARK: Invalid UTF-8 and NUL

        private var encodings: [HostileRequest] {
            var cases: [HostileRequest] = [
                askJSON("/ask raw 0xFF in the prompt", Array(#"{"prompt":"a"#.utf8) + [0xFF] + Array(#""}"#.utf8), statuses: [400]),
                askJSON("/ask an overlong slash in the prompt", Array(#"{"prompt":"a"#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8), statuses: [400]),
                askJSON("/ask a UTF-16 surrogate as UTF-8", Array(#"{"prompt":"a"#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}"#.utf8), statuses: [400]),
                askJSON("/ask a cut-off sequence at the end", Array(#"{"prompt":"a"}"#.utf8) + [0xE2, 0x82], statuses: [400]),
                askJSON("/ask a raw NUL in the prompt", Array(#"{"prompt":"a"#.utf8) + [0] + Array(#""}"#.utf8), statuses: [400]),
                askJSON("/ask a NUL after the object", Array(#"{"prompt":"a"}"#.utf8) + [0], statuses: [400]),
                askJSON("/ask a NUL before the object", [0] + Array(#"{"prompt":"a"}"#.utf8), statuses: [400]),
                askJSON("/ask \\u0000 in the prompt", #"{"prompt":"a\u0000b"}"#, statuses: [200]),
                askJSON("/ask \\u0000 in the title", #"{"prompt":"a","title":"a\u0000b"}"#, statuses: [400]),
                askJSON("/ask \\u0000 in the system prompt", #"{"prompt":"a","system":"\u0000"}"#, statuses: [400]),
                askJSON("/ask \\u0000 in the model", #"{"prompt":"a","model":"test-model\u0000"}"#, statuses: [400]),
                askJSON("/ask \\u0000 in the conversation_id", #"{"prompt":"a","conversation_id":"\#(conversation)\u0000"}"#, statuses: [400]),
                askJSON("/ask \\u0000 as a key", #"{"prompt":"a","\u0000":1}"#, statuses: [200]),
                askJSON("/ask a U+FFFF prompt", #"{"prompt":"\uffff"}"#, statuses: [200]),
                askJSON("/ask raw 0xFF in the conversation_id", Array(#"{"prompt":"a","conversation_id":""#.utf8) + [0xFF] + Array(#""}"#.utf8), statuses: [400]),
                askJSON("/ask an é conversation_id", #"{"prompt":"a","conversation_id":"é"}"#, statuses: [400]),
                askForm("/ask form prompt %FF", "prompt=%FF", statuses: [400]),
                askForm("/ask form prompt %00", "prompt=a%00b", statuses: [200]),
                askForm("/ask form field name %FF", "%FF=1&prompt=a", statuses: [400]),
                askForm("/ask form prompt %C0%AF", "prompt=%C0%AF", statuses: [400]),
                askForm("/ask form a cut-off escape", "prompt=a%F", statuses: [400]),
                askForm("/ask form conversation_id %00", "prompt=a&conversation_id=%00", statuses: [400]),
                askForm("/ask form conversation_id %FF", "prompt=a&conversation_id=%FF", statuses: [400]),
                askForm("/ask form title %00", "prompt=a&title=%00", statuses: [400]),
                askForm("/ask form stream %00", "prompt=a&stream=%00", statuses: [400]),
                get("query limit=%00", "/conversations?limit=%00", statuses: [400]),
                get("query limit=%FF", "/conversations?limit=%FF", statuses: [400]),
                get("query limit=1%00", "/conversations?limit=1%00", statuses: [400]),
                get("query a name %FF", "/conversations?%FF=1"),
                get("query a cut-off escape", "/conversations?limit=%"),
                get("GET /conversation/%00", "/conversation/%00"),
                get("GET /conversation/%FF", "/conversation/%FF", statuses: [404]),
                get("GET /conversation/%C0%AF", "/conversation/%C0%AF", statuses: [404]),
                get("GET /conversation/{id}%00", "/conversation/\(conversation)%00"),
                get("GET /conversation/{id}%2F..%2Fx", "/conversation/\(conversation)%2F..%2Fx", statuses: [404]),
                get("GET /conversation/ 65 characters", "/conversation/\(String(repeating: "a", count: 65))", statuses: [404]),
                get("GET /conversation/ 7,000 characters", "/conversation/\(String(repeating: "a", count: 7_000))", statuses: [404]),
                get("GET /conversation/ 9,000 characters", "/conversation/\(String(repeating: "a", count: 9_000))"),
                get("GET /%FF", "/%FF", statuses: [404]),
                get("GET /ask%00", "/ask%00"),
                HostileRequest("DELETE /conversation/a%00b", "DELETE", "/conversation/a%00b", headers: [auth]),
                HostileRequest("PATCH /conversation/%FF", "PATCH", "/conversation/%FF", headers: [auth, ("Content-Type", "application/json")], body: Array(#"{"title":"x"}"#.utf8), statuses: [404]),
                HostileRequest("/ask?conversation_id=%00", "POST", "/ask?conversation_id=%00", headers: [auth, ("Content-Type", "application/json")], body: Array(#"{"prompt":"q"}"#.utf8), statuses: [400]),
                HostileRequest("/ask?conversation_id=%FF", "POST", "/ask?conversation_id=%FF", headers: [auth, ("Content-Type", "application/json")], body: Array(#"{"prompt":"q"}"#.utf8), statuses: [400]),
            ]
            let target = "/conversation/\(conversation)"
            cases.append(raw(get("raw 0xFF in the path", ""), target: Array("/conversation/".utf8) + [0xFF, 0xFE]))
            cases.append(raw(get("raw NUL in the path", ""), target: Array("/conversation/a".utf8) + [0] + Array("b".utf8)))
            cases.append(raw(get("raw 0xFF in the query", ""), target: Array("/conversations?limit=".utf8) + [0xFF]))
            cases.append(raw(get("raw NUL in the query", ""), target: Array("/conversations?limit=1".utf8) + [0]))
            cases.append(raw(get("raw 0xFF in a conversation id", ""), target: Array("\(target)".utf8) + [0xFF]))
            cases.append(adding("X-Request-Id", [0xFF, 0xFE], to: get("header X-Request-Id 0xFF", "/usage", statuses: [200])))
            cases.append(adding("X-Request-Id", Array("a".utf8) + [0] + Array("b".utf8), to: get("header X-Request-Id with NUL", "/usage")))
            cases.append(adding("X-Anything", [0xC0, 0xAF, 0xFF], to: get("header X-Anything invalid UTF-8", "/usage", statuses: [200])))
            cases.append(adding("Accept", [0xFF], to: askJSON("header Accept 0xFF", #"{"prompt":"x"}"#, statuses: [200])))
            cases.append(adding("X-Request-Id", Array("a\rb".utf8), to: get("header X-Request-Id with a bare CR", "/usage")))
            var nameFF = get("a header name with 0xFF", "/usage")
            nameFF.headers.append(([0xFF, 0x41], Array("x".utf8)))
            cases.append(nameFF)
            var nameNUL = get("a header name with NUL", "/usage")
            nameNUL.headers.append(([0x41, 0, 0x42], Array("x".utf8)))
            cases.append(nameNUL)
            return cases
        }

        // MARK: Headers

        private var headerCases: [HostileRequest] {
            var cases: [HostileRequest] = []
            // nginx refuses a second Authorization header itself (400).
            var manyAuthorizations = get("60 Authorization headers, the first valid", "/usage", statuses: [400])
            for index in 0..<59 { manyAuthorizations.headers.append((Array("Authorization".utf8), Array("Bearer garbage-\(index)".utf8))) }
            cases.append(manyAuthorizations)
            var garbageFirst = HostileRequest("60 Authorization headers, the last valid", "GET", "/usage", statuses: [400])
            for index in 0..<59 { garbageFirst.headers.append((Array("Authorization".utf8), Array("Bearer garbage-\(index)".utf8))) }
            garbageFirst.headers.append((Array("Authorization".utf8), Array("Bearer \(token)".utf8)))
            cases.append(garbageFirst)
            var requestIDs = get("100 X-Request-Id headers", "/usage", statuses: [200])
            for index in 0..<100 { requestIDs.headers.append((Array("X-Request-Id".utf8), Array("id-\(index)".utf8))) }
            cases.append(requestIDs)
            cases.append(adding("X-Filler", Array(repeating: UInt8(ascii: "f"), count: 7 * 1024), to: get("a 7 KB header", "/usage", statuses: [200])))
            cases.append(adding("X-Request-Id", Array(repeating: UInt8(ascii: "r"), count: 7 * 1024), to: get("a 7 KB X-Request-Id", "/usage", statuses: [200])))
            cases.append(adding("X-Request-Id", Array(repeating: UInt8(ascii: "r"), count: 129), to: get("a 129-character X-Request-Id", "/usage", statuses: [200])))
            cases.append(adding("X-Request-Id", Array(#"a"b\c{}"#.utf8), to: get("an X-Request-Id with quotes", "/usage", statuses: [200])))
            cases.append(adding("X-Filler", Array(repeating: UInt8(ascii: "f"), count: 9 * 1024), to: get("a 9 KB header (beyond nginx's buffer)", "/usage", statuses: [400])))
            cases.append(adding("X-Filler", Array(repeating: UInt8(ascii: "f"), count: 64 * 1024), to: get("a 64 KB header", "/usage", statuses: [400])))
            var total = get("40 headers of 1 KB (beyond nginx's buffers)", "/usage", statuses: [400])
            for index in 0..<40 { total.headers.append((Array("X-Filler-\(index)".utf8), Array(repeating: UInt8(ascii: "f"), count: 1024))) }
            cases.append(total)
            // nginx may find these beyond its header buffers (its JSON 400).
            var thousand = get("1,000 small headers", "/usage", statuses: [200, 400])
            for index in 0..<1000 { thousand.headers.append((Array("X-H\(index)".utf8), Array("v".utf8))) }
            cases.append(thousand)
            var sameName = get("1,000 headers of one name", "/usage", statuses: [200, 400])
            for _ in 0..<1000 { sameName.headers.append((Array("X-Same".utf8), Array("v".utf8))) }
            cases.append(sameName)
            var noColon = get("a header line without a colon", "/usage")
            noColon.headers.append((Array("NoColonHere".utf8), []))
            cases.append(noColon)
            var folded = get("an obs-folded header", "/usage")
            folded.headers.append((Array("X-Folded".utf8), Array("first\r\n second".utf8)))
            cases.append(folded)
            var noHost = get("HTTP/1.1 without Host", "/usage")
            noHost.host = nil
            cases.append(noHost)
            var twoHosts = get("two Host headers", "/usage")
            twoHosts.headers.append((Array("Host".utf8), Array("evil.example".utf8)))
            cases.append(twoHosts)
            var badHost = get("a Host with a slash", "/usage")
            badHost.host = "a/b"
            cases.append(badHost)
            cases.append(adding("Proxy", Array("http://evil.example".utf8), to: get("a Proxy header (httpoxy)", "/usage", statuses: [200])))
            cases.append(HostileRequest(
                "a 7 KB Content-Type", "POST", "/ask", headers: [auth, ("Content-Type", String(repeating: "j", count: 7 * 1024))],
                body: Array(#"{"prompt":"x"}"#.utf8), statuses: [415]
            ))
            cases.append(adding("Accept", Array(String(repeating: "text/event-stream;q=0,", count: 300).utf8), to: askJSON("a 6 KB Accept", #"{"prompt":"x"}"#, statuses: [200])))
            cases.append(adding("Content-Type", Array("text/plain".utf8), to: askJSON("two Content-Types", #"{"prompt":"x"}"#)))
            return cases
        }

        // MARK: Every method on every path

        private var methodMatrix: [HostileRequest] {
            let paths = [
                "/ask", "/conversations", "/conversation/\(methodsConversation)", "/conversation/", "/conversation", "/usage", "/healthz",
                "/v1/chat/completions", "/no/such/path", "//ask", "/%61sk", "/ask/../ask",
            ]
            let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "BREW"]
            var cases: [HostileRequest] = []
            for path in paths {
                for method in methods {
                    let body: [UInt8]? = switch method {
                    case "POST": Array(#"{"prompt":"method matrix"}"#.utf8)
                    case "PUT", "PATCH": Array(#"{"title":"method matrix"}"#.utf8)
                    default: nil
                    }
                    cases.append(HostileRequest(
                        "\(method) \(path)", method, path,
                        headers: [("Authorization", "Bearer \(methodsToken)"), ("Content-Type", "application/json")], body: body,
                        // nginx refuses TRACE itself.
                        statuses: method == "TRACE" ? [405] : nil
                    ))
                }
            }
            return cases
        }

        // MARK: Authorization

        private var authorizations: [HostileRequest] {
            let values: [(label: String, value: [UInt8], status: Set<Int>?)] = [
                ("empty", [], [401]),
                ("Bearer alone", Array("Bearer".utf8), [401]),
                ("Bearer and a space", Array("Bearer ".utf8), [401]),
                ("Bearer and 7 KB", Array("Bearer \(String(repeating: "A", count: 7 * 1024))".utf8), [401]),
                ("Bearer and 10 KB", Array("Bearer \(String(repeating: "A", count: 10 * 1024))".utf8), [400]),
                ("Basic", Array("Basic dXNlcjpwYXNz".utf8), [401]),
                ("Digest", Array(#"Digest username="a", realm="b", nonce="c""#.utf8), [401]),
                ("the token after Basic", Array("Basic \(token)".utf8), [401]),
                ("the token and more", Array("Bearer \(token) extra".utf8), [401]),
                ("lower-case bearer", Array("bearer \(token)".utf8), [200]),
                ("BEARER and two spaces", Array("BEARER  \(token)".utf8), [200]),
                ("Bearer and a tab", Array("Bearer\t\(token)".utf8), [401]),
                ("the bare token", Array(token.utf8), [200]),
                ("a forged token", Array("Bearer askd_\(String(repeating: "A", count: 43))".utf8), [401]),
                ("the token with a NUL", Array("Bearer \(token)".utf8) + [0], nil),
                ("a NUL", Array("Bearer ".utf8) + [0], nil),
                ("%00", Array("Bearer %00".utf8), [401]),
                ("0xFF bytes", Array("Bearer ".utf8) + [0xFF, 0xFE, 0xFD], [401]),
                ("the token and 0xFF", Array("Bearer \(token)".utf8) + [0xFF], [401]),
                ("non-ASCII letters", Array("Bearer ťøķęñ".utf8), [401]),
                ("a DEL", Array("Bearer \(token)\u{7F}".utf8), [401]),
                ("only spaces", Array("     ".utf8), [401]),
                ("a comma list", Array("Bearer a, Bearer \(token)".utf8), [401]),
            ]
            var cases: [HostileRequest] = []
            for (label, value, status) in values {
                var usage = HostileRequest("Authorization \(label) on GET /usage", "GET", "/usage", statuses: status)
                usage.headers.append((Array("Authorization".utf8), value))
                cases.append(usage)
                var ask = HostileRequest("Authorization \(label) on POST /ask", "POST", "/ask", headers: [("Content-Type", "application/json")],
                                         body: Array(#"{"prompt":"auth"}"#.utf8), statuses: status)
                ask.headers.append((Array("Authorization".utf8), value))
                cases.append(ask)
            }
            cases.append(HostileRequest("no Authorization on GET /conversations", "GET", "/conversations", statuses: [401]))
            cases.append(HostileRequest("no Authorization on DELETE /conversations", "DELETE", "/conversations", statuses: [401]))
            cases.append(HostileRequest("no Authorization on PATCH", "PATCH", "/conversation/\(conversation)", headers: [("Content-Type", "application/json")],
                                        body: Array(#"{"title":"x"}"#.utf8), statuses: [401]))
            return cases
        }

        // MARK: Content-Type

        private var contentTypes: [HostileRequest] {
            let json = Array(#"{"prompt":"content type"}"#.utf8)
            let types: [(String, Set<Int>)] = [
                ("application/json", [200]), ("APPLICATION/JSON", [200]), ("application/json; charset=latin1", [200]),
                ("application/json;;;;", [200]), ("text/json", [200]), ("application/vnd.example+json", [200]), ("+json", [200]),
                ("application/merge-patch+json", [200]), ("application/x-www-form-urlencoded", [400]), ("text/plain", [415]),
                ("multipart/form-data; boundary=x", [415]), ("application/octet-stream", [415]), ("*/*", [415]), ("application/", [415]),
                (";", [200]), ("", [200]), ("application/json, text/plain", [415]), ("application/xml", [415]),
            ]
            var cases: [HostileRequest] = []
            for (type, statuses) in types {
                cases.append(HostileRequest("Content-Type \(type.isEmpty ? "empty" : type)", "POST", "/ask", headers: [auth, ("Content-Type", type)], body: json, statuses: statuses))
            }
            cases.append(HostileRequest("no Content-Type, a JSON body", "POST", "/ask", headers: [auth], body: json, statuses: [200]))
            cases.append(HostileRequest("no Content-Type, a form body", "POST", "/ask", headers: [auth], body: Array("prompt=form".utf8), statuses: [200]))
            cases.append(HostileRequest("no Content-Type, binary", "POST", "/ask", headers: [auth], body: [0xFF, 0x00, 0x01, 0x80], statuses: [400]))
            cases.append(HostileRequest("Content-Type form, a form of 200,000 fields", "POST", "/ask", headers: [auth, ("Content-Type", "application/x-www-form-urlencoded")],
                                        body: Array(("prompt=first&" + String(repeating: "a=1&", count: 200_000)).utf8), statuses: [200]))
            cases.append(HostileRequest("Content-Type form, 100,000 prompts", "POST", "/ask", headers: [auth, ("Content-Type", "application/x-www-form-urlencoded")],
                                        body: Array(String(repeating: "prompt=p&", count: 100_000).utf8), statuses: [200]))
            cases.append(HostileRequest("Content-Type form, only ampersands and equals", "POST", "/ask", headers: [auth, ("Content-Type", "application/x-www-form-urlencoded")],
                                        body: Array(String(repeating: "&=", count: 100_000).utf8), statuses: [400]))
            cases.append(HostileRequest("PATCH text/plain", "PATCH", "/conversation/\(conversation)", headers: [auth, ("Content-Type", "text/plain")],
                                        body: Array(#"{"title":"x"}"#.utf8), statuses: [415]))
            cases.append(HostileRequest("PATCH form", "PATCH", "/conversation/\(conversation)", headers: [auth, ("Content-Type", "application/x-www-form-urlencoded")],
                                        body: Array("title=form%20title".utf8), statuses: [200]))
            return cases
        }

        // MARK: Content-Length, chunked bodies, request lines

        private var framing: [HostileRequest] {
            let body = Array(#"{"prompt":"framing"}"#.utf8)
            func ask(_ name: String, length: HostileRequest.ContentLength, body: [UInt8], headers: [(String, String)] = [],
                     statuses: Set<Int>? = nil) -> HostileRequest {
                var request = HostileRequest(name, "POST", "/ask", headers: [auth, ("Content-Type", "application/json")] + headers, body: body, statuses: statuses)
                request.contentLength = length
                return request
            }
            let chunked = [("Transfer-Encoding", "chunked")]
            var cases: [HostileRequest] = [
                ask("Content-Length shorter than the body", length: .stated("5"), body: body, statuses: [400]),
                ask("Content-Length 0 with a body", length: .stated("0"), body: body, statuses: [400]),
                ask("Content-Length -1", length: .stated("-1"), body: body, statuses: [400]),
                ask("Content-Length abc", length: .stated("abc"), body: body, statuses: [400]),
                ask("Content-Length 0x10", length: .stated("0x10"), body: body, statuses: [400]),
                ask("Content-Length +20", length: .stated("+20"), body: body, statuses: [400]),
                ask("Content-Length 1e3", length: .stated("1e3"), body: body, statuses: [400]),
                ask("Content-Length 2^63", length: .stated("9223372036854775808"), body: body, statuses: [400]),
                ask("Content-Length 2^63-1", length: .stated("9223372036854775807"), body: body, statuses: [413]),
                ask("Content-Length 400 digits", length: .stated(Self.fourHundredDigits), body: body, statuses: [400]),
                ask("Content-Length empty", length: .stated(""), body: body),
                ask("Content-Length twice, the same", length: .stated("20\r\nContent-Length: 20"), body: body, statuses: [400]),
                ask("Content-Length twice, different", length: .stated("20\r\nContent-Length: 5"), body: body, statuses: [400]),
                ask("Content-Length and chunked", length: .stated("20"), body: Array("14\r\n".utf8) + body + Array("\r\n0\r\n\r\n".utf8), headers: chunked, statuses: [400]),
                ask("chunked", length: .omitted, body: Array("a\r\n{\"prompt\":\r\na\r\n\"chunked\"}\r\n0\r\n\r\n".utf8), headers: chunked, statuses: [200]),
                ask("chunked with extensions and a trailer", length: .omitted, body: Array("14;ext=1\r\n".utf8) + body + Array("\r\n0\r\nX-Trailer: t\r\n\r\n".utf8), headers: chunked, statuses: [200]),
                ask("chunked, 18 f's as the size", length: .omitted, body: Array("ffffffffffffffffff\r\nx\r\n0\r\n\r\n".utf8), headers: chunked, statuses: [400, 413]),
                ask("chunked, 2^63 as the size", length: .omitted, body: Array("8000000000000000\r\nx\r\n0\r\n\r\n".utf8), headers: chunked, statuses: [400, 413]),
                ask("chunked, a negative size", length: .omitted, body: Array("-1\r\nx\r\n0\r\n\r\n".utf8), headers: chunked, statuses: [400]),
                ask("chunked, a size that is not hex", length: .omitted, body: Array("zz\r\nx\r\n0\r\n\r\n".utf8), headers: chunked, statuses: [400]),
                ask("chunked, a chunk longer than its size", length: .omitted, body: Array("2\r\nabcdef\r\n0\r\n\r\n".utf8), headers: chunked, statuses: [400]),
                ask("chunked, only the last chunk", length: .omitted, body: Array("0\r\n\r\n".utf8), headers: chunked, statuses: [400]),
                ask("chunked, 2 MiB in 1 KB chunks", length: .omitted, body: Array(repeating: Array("400\r\n".utf8) + Array(repeating: UInt8(ascii: "a"), count: 1024) + Array("\r\n".utf8), count: 2048).flatMap { $0 } + Array("0\r\n\r\n".utf8), headers: chunked, statuses: [413]),
                ask("chunked, 1,000 one-byte chunks", length: .omitted, body: Array(repeating: Array("1\r\n ".utf8) + Array("\r\n".utf8), count: 1000).flatMap { $0 } + Array("14\r\n".utf8) + body + Array("\r\n0\r\n\r\n".utf8), headers: chunked, statuses: [200]),
                // nginx 1.22 reads only "chunked" (its 501 otherwise, which the config makes a JSON 400).
                ask("Transfer-Encoding chunked twice", length: .omitted, body: Array("14\r\n".utf8) + body + Array("\r\n0\r\n\r\n".utf8), headers: [("Transfer-Encoding", "chunked, chunked")], statuses: [400]),
                ask("Transfer-Encoding CHUNKED", length: .omitted, body: Array("14\r\n".utf8) + body + Array("\r\n0\r\n\r\n".utf8), headers: [("Transfer-Encoding", "CHUNKED")]),
                ask("Transfer-Encoding gzip", length: .omitted, body: body, headers: [("Transfer-Encoding", "gzip")], statuses: [400]),
                ask("Transfer-Encoding identity", length: .stated("20"), body: body, headers: [("Transfer-Encoding", "identity")], statuses: [400]),
                ask("Expect: 100-continue", length: .counted, body: body, headers: [("Expect", "100-continue")], statuses: [200]),
                ask("Expect: something else", length: .counted, body: body, headers: [("Expect", "teapot")]),
                ask("Content-Encoding gzip on plain JSON", length: .counted, body: body, headers: [("Content-Encoding", "gzip")], statuses: [415]),
                HostileRequest("a GET with a JSON body", "GET", "/usage", headers: [auth, ("Content-Type", "application/json")], body: body, statuses: [200]),
                HostileRequest("a DELETE with a body", "DELETE", "/conversation/no-such-conversation", headers: [auth], body: body, statuses: [404]),
            ]
            var longer = ask("Content-Length longer than the body, then the end", length: .stated("100"), body: body)
            longer.halfClose = true
            cases.append(longer)
            var cutChunked = ask("chunked, cut off, then the end", length: .omitted, body: Array("14\r\n{\"pro".utf8), headers: chunked)
            cutChunked.halfClose = true
            cases.append(cutChunked)
            var noLength = ask("POST without a length or chunked, then the end", length: .omitted, body: body)
            noLength.halfClose = true
            cases.append(noLength)
            var expectHuge = ask("Expect: 100-continue with 2 MiB announced, no body", length: .stated(String(2 << 20)), body: [], headers: [("Expect", "100-continue")], statuses: [413])
            expectHuge.halfClose = true
            cases.append(expectHuge)
            cases.append(HostileRequest("the HTTP/2 preface", verbatim: Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8), statuses: [400]))
            cases.append(HostileRequest("HTTP/1.0 with chunked", verbatim: Array("POST /ask HTTP/1.0\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n".utf8) + body + Array("\r\n0\r\n\r\n".utf8)))
            cases.append(HostileRequest("HTTP/1.0 without Host", verbatim: Array("GET /usage HTTP/1.0\r\nAuthorization: Bearer \(token)\r\n\r\n".utf8), statuses: [200]))
            cases.append(HostileRequest("only a request line, HTTP/1.0", verbatim: Array("GET /healthz HTTP/1.0\r\n\r\n".utf8), statuses: [200]))
            cases.append(HostileRequest("bare LF line ends", verbatim: Array("GET /usage HTTP/1.1\nHost: x\nAuthorization: Bearer \(token)\nConnection: close\n\n".utf8), statuses: [200]))
            cases.append(HostileRequest("100 pipelined requests", verbatim: Array((String(repeating: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", count: 99) + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").utf8), statuses: [200]))
            cases.append(HostileRequest("binary garbage", verbatim: (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }, statuses: [400]))
            cases.append(HostileRequest("a TLS ClientHello on the plain port", verbatim: [0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03] + [UInt8](repeating: 0x42, count: 160), statuses: [400]))
            cases.append(ask("Upgrade: h2c", length: .counted, body: body, headers: [("Upgrade", "h2c"), ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA")], statuses: [200]))
            cases.append(ask("Upgrade: websocket", length: .counted, body: body, headers: [("Upgrade", "websocket"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")], statuses: [200]))

            let lines: [(label: String, method: String, target: String, version: String)] = [
                ("HTTP/1.0", "GET", "/healthz", "HTTP/1.0"), ("HTTP/1.2", "GET", "/healthz", "HTTP/1.2"), ("HTTP/2.0", "GET", "/healthz", "HTTP/2.0"),
                ("HTTP/9.9", "GET", "/healthz", "HTTP/9.9"), ("HTTP/1.1000", "GET", "/healthz", "HTTP/1.1000"), ("no version", "GET", "/healthz", "FOO/1.1"),
                ("lower-case method", "get", "/healthz", "HTTP/1.1"), ("absolute form", "GET", "http://evil.example/usage", "HTTP/1.1"),
                ("an asterisk target", "OPTIONS", "*", "HTTP/1.1"), ("a fragment", "GET", "/usage#frag", "HTTP/1.1"),
                ("a relative target", "GET", "usage", "HTTP/1.1"), ("a 9,000-byte target", "GET", "/conversations?x=\(String(repeating: "x", count: 9_000))", "HTTP/1.1"),
                ("1,000 query parameters", "GET", "/conversations?" + String(repeating: "limit=5&", count: 1000), "HTTP/1.1"),
                ("a method of 1,000 letters", String(repeating: "M", count: 1000), "/ask", "HTTP/1.1"),
                ("a method with a digit", "G3T", "/ask", "HTTP/1.1"),
            ]
            for (label, method, target, version) in lines {
                var request = HostileRequest("request line: \(label)", method, target, headers: [auth])
                request.version = version
                // nginx's 505, which the config makes a JSON 400.
                if ["HTTP/2.0", "HTTP/9.9"].contains(version) { request.statuses = [400] }
                cases.append(request)
            }
            return cases
        }

        // MARK: Test routes (debug builds with ASKD_TEST_ROUTES=1 only)

        private var testRoutes: [HostileRequest] {
            var streams = [
                get("/_test/stream?chunks=-1", "/_test/stream?chunks=-1", statuses: [200]),
                get("/_test/stream?interval_ms=-1", "/_test/stream?chunks=1&interval_ms=-1", statuses: [200]),
                get("/_test/stream?chunks=Int.min", "/_test/stream?chunks=-9223372036854775808", statuses: [200]),
            ]
            for index in streams.indices { streams[index].mayAnswerText = true }
            return [
                get("/_test/slow?ms=-1", "/_test/slow?ms=-1", statuses: [200]),
                get("/_test/slow?ms=Int.min", "/_test/slow?ms=-9223372036854775808", statuses: [200]),
                get("/_test/slow?ms=%00", "/_test/slow?ms=%00"),
                get("/_test/slow?ms=400 digits", "/_test/slow?ms=\(Self.fourHundredDigits)", statuses: [200]),
            ] + streams
        }
    }
}
