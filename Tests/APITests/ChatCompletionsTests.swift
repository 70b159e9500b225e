@testable import API
import Auth
import Foundation
import HTTP
import Logging
import Store
import Testing
import Upstream

/// The /v1/ routes over a memory store, a token and a scripted upstream, as `Routes` sets them up.
struct ChatFixture {
    let store = MemoryStore()
    let upstream = ScriptedForwarder()
    let token: String
    let application: Application

    init() throws {
        token = try TokenSecret.generate()
        try store.insertToken(TokenRecord(id: "t-alice", name: "alice", hash: TokenSecret.hash(token), createdAt: Date()))
        let verifier = StoreTokenVerifier(store: store)
        let chat = ChatCompletionsHandler(
            store: store, verifier: verifier, upstream: upstream, settings: AskSettings(models: ["fake-model", "org/other"]),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        )
        let models = ModelsHandler(verifier: verifier, chat: chat)
        var router = Router()
        router.post("/v1/chat/completions", use: chat.handle)
        router.get("/v1/models", use: models.list)
        router.get("/v1/models/{model}", use: models.retrieve)
        router.get("/v1/models/{owner}/{name}", use: models.retrieve)
        router.formatErrors(under: "/v1/", as: OpenAIErrorFormat())
        application = Application(router: router, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    func request(_ method: String = "POST", _ path: String = "/v1/chat/completions", body: String = "", token: String? = nil) -> (Response, RecordingChannel?) {
        var headers: HTTPHeaders = ["Content-Type": "application/json"]
        headers.add(name: "Authorization", value: "Bearer \(token ?? self.token)")
        var request = Request(method: method, path: path, headers: headers, body: Array(body.utf8))
        return application.respondAndWait(to: &request)
    }

    func text(_ response: Response) -> String {
        guard case .bytes(let bytes) = response.body else { return "" }
        return String(decoding: bytes, as: UTF8.self)
    }

    func json(_ response: Response) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text(response).utf8))) as? [String: Any] ?? [:]
    }

    /// The `data:` events of a streamed answer, as their texts.
    func events(_ response: Response) -> [String] {
        text(response).components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { block in
            block.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { $0.dropFirst(6) }.joined(separator: "\n")
        }
    }

    /// The requests counted in the token's usage today, once the count has settled.
    func countedRequests(expecting expected: Int) throws -> Int {
        let deadline = Date().addingTimeInterval(3)
        var counted = 0
        repeat {
            counted = try store.usage(owner: "t-alice", day: Date().usageDay).day.requests
            if counted == expected { break }
            usleep(5_000)
        } while Date() < deadline
        return counted
    }
}

func object(_ text: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
}

struct ChatCompletionsTests {
    static let ask = #"{"model":"fake-model","messages":[{"role":"user","content":"hi"}]"#

    @Test func aPlainAnswerPassesThroughByteForByteAndItsUsageCounts() throws {
        let fixture = try ChatFixture()
        fixture.upstream.body = #"{"id":"x", "object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8},"extra":12345678901234567890}"#
        let body = Self.ask + #", "seed": 12345678901234567890, "tools": [{"type":"function","function":{"name":"f"}}], "x_unknown": [1.50]}"#
        let (response, _) = fixture.request(body: body)
        #expect(response.status == .ok)
        #expect(fixture.text(response) == fixture.upstream.body, "the answer, unchanged, tool calls and all")
        #expect(response.headers["Content-Type"] == "application/json")
        #expect(fixture.upstream.forwarded.map { String(decoding: $0.body, as: UTF8.self) } == [body], "the body, unchanged")
        #expect(try fixture.countedRequests(expecting: 1) == 1)
        #expect(try fixture.store.usage(owner: "t-alice", day: Date().usageDay).day.promptTokens == 5)
    }

    @Test func anAnswerWithoutItsHeadGetsOne() throws {
        let fixture = try ChatFixture()
        fixture.upstream.body = #"{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"object":"wrong"}"#
        let (response, _) = fixture.request(body: Self.ask + "}")
        let answer = fixture.json(response)
        #expect((answer["id"] as? String)?.hasPrefix("chatcmpl-") == true)
        #expect(answer["object"] as? String == "chat.completion")
        #expect(answer["created"] is Int)
        #expect(answer["model"] as? String == "fake-model")
        #expect((answer["choices"] as? [Any])?.count == 1)
    }

    @Test func aStreamAlwaysAsksTheUpstreamForUsageAndKeepsTheClientsOtherOptions() throws {
        let fixture = try ChatFixture()
        fixture.upstream.chunks = [#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}"#]
        _ = fixture.request(body: Self.ask + #","stream":true,"stream_options":{"include_usage":false,"other":1}}"#)
        let sent = try #require(fixture.upstream.forwarded.first)
        #expect(sent.fields["stream_options"] == .object(["include_usage": .bool(true), "other": .number(1)]))
        #expect(object(String(decoding: sent.body, as: UTF8.self))["messages"] != nil)
    }

    @Test func chunksShareOneHeadAndUsageComesOnlyToThoseWhoAsked() throws {
        let fixture = try ChatFixture()
        fixture.upstream.chunks = [
            #"{"id":"first","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}],"usage":null}"#,
            #"{"id":"other","created":8,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}],"usage":null}"#,
            #"{"id":"first","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#,
        ]
        for asked in [false, true] {
            let options = asked ? #","stream_options":{"include_usage":true}"# : ""
            let (response, _) = fixture.request(body: Self.ask + #","stream":true\#(options)}"#)
            #expect(response.headers["Content-Type"] == "text/event-stream")
            let events = fixture.events(response)
            #expect(events.last == "[DONE]")
            let chunks = events.dropLast().map(object)
            #expect(chunks.count == (asked ? 4 : 3), "\(events)")
            #expect(chunks.allSatisfy { $0["id"] as? String == "first" && $0["created"] as? Int == 7 && $0["object"] as? String == "chat.completion.chunk" })
            if asked {
                #expect((chunks.last?["choices"] as? [Any])?.isEmpty == true)
                #expect((chunks.last?["usage"] as? [String: Any])?["total_tokens"] as? Int == 6)
                #expect(chunks.dropLast().allSatisfy { $0["usage"] is NSNull })
            } else {
                #expect(chunks.allSatisfy { $0["usage"] == nil }, "no usage member at all: \(events)")
            }
        }
        #expect(try fixture.countedRequests(expecting: 2) == 2)
    }

    @Test func anErrorAfterTheFirstChunkIsAnEventThenTheEnd() throws {
        let fixture = try ChatFixture()
        fixture.upstream.chunks = [#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}"#]
        fixture.upstream.failure = UpstreamError.failed(detail: "secret")
        let (response, _) = fixture.request(body: Self.ask + #","stream":true}"#)
        #expect(response.status == .ok)
        let events = fixture.events(response)
        #expect(events.count == 2 && !events.contains("[DONE]"))
        let error = try #require(object(events[1])["error"] as? [String: Any])
        #expect(error["code"] as? String == "upstream_error" && error["type"] as? String == "server_error" && error["param"] is NSNull)
        #expect(!(error["message"] as? String ?? "").contains("secret"))
    }

    @Test func anErrorBeforeTheFirstChunkKeepsItsStatus() throws {
        let fixture = try ChatFixture()
        fixture.upstream.failure = UpstreamError.timedOut(detail: "slow")
        let (response, _) = fixture.request(body: Self.ask + #","stream":true}"#)
        #expect(response.status == .gatewayTimeout)
        #expect((fixture.json(response)["error"] as? [String: Any])?["code"] as? String == "upstream_timeout")
        #expect(try fixture.countedRequests(expecting: 0) == 0, "a failed answer counts nothing")
    }

    @Test func theUpstreamsRejectionOfTheClientsRequestKeepsItsStatusAndFields() throws {
        let fixture = try ChatFixture()
        fixture.upstream.failure = UpstreamRejection(status: 400, message: "bad tools", type: "invalid_request_error", param: "tools", code: "invalid_value")
        let (response, _) = fixture.request(body: Self.ask + "}")
        #expect(response.status == .badRequest)
        let error = try #require(fixture.json(response)["error"] as? [String: Any])
        #expect(error["message"] as? String == "bad tools" && error["param"] as? String == "tools" && error["code"] as? String == "invalid_value")
    }

    @Test func aClientThatLeavesCutsTheStreamAndWhatWasMadeCounts() throws {
        let fixture = try ChatFixture()
        let chunk = #"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}"#
        fixture.upstream.chunks = Array(repeating: chunk, count: 10)
        var request = Request(
            method: "POST", path: "/v1/chat/completions", headers: ["Authorization": "Bearer \(fixture.token)"],
            body: Array((Self.ask + #","stream":true}"#).utf8)
        )
        let (_, channel) = fixture.application.respondAndWait(to: &request) { $0.leaveAtWrite = 3 }
        #expect(channel?.chunks.count == 3)
        #expect(channel?.failure is ClientDisconnected)
        #expect(try fixture.countedRequests(expecting: 1) == 1)
        #expect(try fixture.store.usage(owner: "t-alice", day: Date().usageDay).day.completionTokens == 3, "the usage up to the cut")
    }

    @Test(arguments: [
        (#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (#"{"model":"fake-model","messages":"x"}"#, "messages"),
        (#"{"model":"fake-model","messages":[]}"#, "messages"),
        (#"{"model":"fake-model","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#, "stream"),
        (#"{"model":"fake-model","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":1}}"#, "stream_options.include_usage"),
        (#"{"model":"fake-model","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#, "max_tokens"),
        (#"[1]"#, nil),
        (#"{"model":"#, nil),
    ])
    func badBodiesAre400sNamingTheirParam(body: String, param: String?) throws {
        let fixture = try ChatFixture()
        let (response, _) = fixture.request(body: body)
        #expect(response.status == .badRequest, "\(body)")
        let error = try #require(fixture.json(response)["error"] as? [String: Any], "\(fixture.text(response))")
        #expect(error["type"] as? String == "invalid_request_error")
        if let param { #expect(error["param"] as? String == param, "\(body)") } else { #expect(error["param"] is NSNull, "\(body)") }
        #expect(error["code"] is NSNull)
        #expect(fixture.upstream.forwarded.isEmpty)
    }

    @Test func aModelAskdDoesNotServeIsNotFoundAndATokenIsRequired() throws {
        let fixture = try ChatFixture()
        let (unknown, _) = fixture.request(body: #"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}"#)
        #expect(unknown.status == .notFound)
        #expect((fixture.json(unknown)["error"] as? [String: Any])?["code"] as? String == "model_not_found")
        let (anonymous, _) = fixture.request(body: Self.ask + "}", token: "askd_not_a_token")
        #expect(anonymous.status == .unauthorized && anonymous.headers["WWW-Authenticate"] == "Bearer")
        #expect((fixture.json(anonymous)["error"] as? [String: Any])?["code"] as? String == "invalid_api_key")
        #expect(fixture.upstream.forwarded.isEmpty)
    }

    @Test func modelsListWhatTheTokenMayUse() throws {
        let fixture = try ChatFixture()
        let (list, _) = fixture.request("GET", "/v1/models")
        let models = fixture.json(list)
        #expect(models["object"] as? String == "list")
        let data = try #require(models["data"] as? [[String: Any]])
        #expect(data.map { $0["id"] as? String } == ["fake-model", "org/other"])
        #expect(data.allSatisfy { $0["object"] as? String == "model" && $0["created"] is Int && $0["owned_by"] as? String == "askd" })
        #expect(fixture.json(fixture.request("GET", "/v1/models/fake-model").0)["id"] as? String == "fake-model")
        #expect(fixture.json(fixture.request("GET", "/v1/models/org/other").0)["id"] as? String == "org/other")
        #expect(fixture.json(fixture.request("GET", "/v1/models/org%2Fother").0)["id"] as? String == "org/other")
        let (missing, _) = fixture.request("GET", "/v1/models/gpt-4o")
        #expect(missing.status == .notFound)
    }
}

struct ChatCompletionsInputTests {
    private func input(_ body: String) throws -> ChatCompletionsInput {
        try ChatCompletionsInput.parse(Request(method: "POST", path: "/v1/chat/completions", body: Array(body.utf8)))
    }

    @Test func aCapLowersTheClientsLimitsOrSetsOne() throws {
        let both = try input(#"{"model":"m","messages":[{}],"max_tokens":500,"max_completion_tokens":50}"#)
        #expect(both.maxTokens == 50)
        let capped = both.forwarded(cappingTokensAt: 100)
        #expect(capped.fields["max_tokens"] == .number(100) && capped.fields["max_completion_tokens"] == .number(50))
        let none = try input(#"{"model":"m","messages":[{}]}"#).forwarded(cappingTokensAt: 30)
        #expect(object(String(decoding: none.body, as: UTF8.self))["max_completion_tokens"] as? Int == 30)
        let body = #"{"model":"m", "messages":[{}], "max_tokens": 9}"#
        #expect(try input(body).forwarded(cappingTokensAt: nil).body == Array(body.utf8), "no cap, no stream: the body as it came")
    }
}
