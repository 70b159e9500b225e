@testable import API
import Auth
import Foundation
import HTTP
import Logging
import Store
import Testing
import Upstream

/// A model that records what it is asked and answers as told.
final class FakeUpstream: ChatCompletions, @unchecked Sendable {
    let defaultModel = "fake-model"
    private let lock = NSLock()
    private var _requests: [ChatRequest] = []
    var failure: UpstreamError?
    /// When streaming, fail with `failure` after this many pieces.
    var failAfterPieces = 0

    var requests: [ChatRequest] { lock.withLock { _requests } }

    func stream(_ request: ChatRequest, to sink: any ChatStreamSink) throws -> ChatResponse {
        lock.withLock { _requests.append(request) }
        let pieces = ["answer", " ", "\(request.messages.count)"]
        for (index, piece) in pieces.enumerated() {
            if let failure, index == failAfterPieces { throw failure }
            try sink.deliver(piece)
        }
        return ChatResponse(
            text: pieces.joined(), model: request.model, finishReason: "stop",
            usage: TokenUsage(promptTokens: 10, completionTokens: 2, totalTokens: 12)
        )
    }

    /// Answers from another thread, as a real upstream does.
    func ask(
        _ request: ChatRequest, streamingTo sink: (any ChatStreamSink)?,
        then completion: @escaping @Sendable (Result<ChatResponse, any Error>) -> Void
    ) {
        DispatchQueue.global().async {
            completion(Result { if let sink { try self.stream(request, to: sink) } else { try self.complete(request) } })
        }
    }

    /// Not used by the /ask tests.
    func forward(
        _ request: ForwardedRequest, streamingTo sink: (any CompletionChunkSink)?,
        then completion: @escaping @Sendable (Result<ForwardedAnswer, any Error>) -> Void
    ) {
        completion(.failure(UpstreamError.failed(detail: "forward is not used here")))
    }

    func complete(_ request: ChatRequest) throws -> ChatResponse {
        lock.withLock { _requests.append(request) }
        if let failure { throw failure }
        return ChatResponse(
            text: "answer \(request.messages.count)", model: request.model, finishReason: "stop",
            usage: TokenUsage(promptTokens: 10, completionTokens: 2, totalTokens: 12)
        )
    }
}

/// An application with the ask routes over a memory store, two tokens and a fake upstream.
struct AskFixture {
    let store: MemoryStore
    let upstream: FakeUpstream
    let alice: String
    let bob: String
    let application: Application

    init(
        settings: AskSettings = AskSettings(maxPromptCharacters: 100), upstream model: (any ChatCompletions)? = nil
    ) throws {
        store = MemoryStore()
        let fake = FakeUpstream()
        upstream = fake
        let model = model ?? fake
        alice = try TokenSecret.generate()
        bob = try TokenSecret.generate()
        try store.insertToken(TokenRecord(id: "t-alice", name: "alice", hash: TokenSecret.hash(alice), createdAt: Date()))
        try store.insertToken(TokenRecord(id: "t-bob", name: "bob", hash: TokenSecret.hash(bob), createdAt: Date()))
        let verifier = StoreTokenVerifier(store: store)
        var router = Router()
        router.post("/ask", use: AskHandler(store: store, verifier: verifier, upstream: model, settings: settings, logger: Logger(label: "test")).handle)
        router.delete("/conversation/{conversation_id}", use: DeleteConversationHandler(store: store, verifier: verifier).handle)
        application = Application(router: router, logger: Logger(label: "test"))
    }

    func ask(_ body: String, token: String?, contentType: String? = "application/json", query: String = "") -> (Int, [String: Any], Response) {
        var headers: HTTPHeaders = [:]
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        var request = Request(method: "POST", path: "/ask", query: query, headers: headers, body: Array(body.utf8))
        let (response, _) = application.respondAndWait(to: &request)
        guard case .bytes(let bytes) = response.body else { return (response.status.code, [:], response) }
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
        return (response.status.code, json, response)
    }

    func delete(_ id: String, token: String?) -> Int {
        var headers: HTTPHeaders = [:]
        if let token { headers.add(name: "Authorization", value: token) }
        var request = Request(method: "DELETE", path: "/conversation/\(id)", headers: headers)
        return application.respond(to: &request).status.code
    }
}

struct AskHandlerTests {
    @Test func aNewConversationAnswersAndStoresTheTurn() throws {
        let fixture = try AskFixture()
        let (status, json, _) = fixture.ask(#"{"prompt":"hello"}"#, token: fixture.alice)
        #expect(status == 200)
        let response = try #require(json["response"] as? [String: Any])
        #expect(response["message"] as? String == "answer 1")
        #expect(response["model"] as? String == "fake-model")
        #expect(response["finish_reason"] as? String == "stop")
        #expect((response["usage"] as? [String: Any])?["total_tokens"] as? Int == 12)
        let id = try #require(response["conversation_id"] as? String)
        #expect(UUID(uuidString: id) != nil)
        #expect(try fixture.store.messages(conversationID: id).map(\.content) == ["hello", "answer 1"])
    }

    @Test func aConversationContinuesWithItsHistoryInOrder() throws {
        let fixture = try AskFixture(settings: AskSettings(maxPromptCharacters: 100, systemPrompt: "Be brief."))
        let (_, first, _) = fixture.ask(#"{"prompt":"one"}"#, token: fixture.alice)
        let id = try #require((first["response"] as? [String: Any])?["conversation_id"] as? String)
        let (status, _, _) = fixture.ask(#"{"prompt":"two","conversation_id":"\#(id)"}"#, token: fixture.alice)
        #expect(status == 200)
        let sent = try #require(fixture.upstream.requests.last)
        #expect(sent.messages.map(\.role) == ["system", "user", "assistant", "user"])
        #expect(sent.messages.map(\.content) == ["Be brief.", "one", "answer 2", "two"])
        #expect(try fixture.store.messages(conversationID: id).count == 4)
    }

    /// The store is asked for the newest `ASKD_MAX_HISTORY_MESSAGES` only, and the trim works on those.
    @Test func aLongConversationSendsOnlyItsNewestMessages() throws {
        let fixture = try AskFixture(settings: AskSettings(maxPromptCharacters: 100, maxHistoryMessages: 3, maxHistoryCharacters: 1_000))
        let (_, first, _) = fixture.ask(#"{"prompt":"p1"}"#, token: fixture.alice)
        let id = try #require((first["response"] as? [String: Any])?["conversation_id"] as? String)
        for index in 2...30 {
            let (status, _, _) = fixture.ask(#"{"prompt":"p\#(index)","conversation_id":"\#(id)"}"#, token: fixture.alice)
            #expect(status == 200)
        }
        let sent = try #require(fixture.upstream.requests.last)
        // The newest three before p30 are p28's answer (dropped: its question was trimmed), p29 and its answer.
        #expect(sent.messages.map(\.content) == ["p29", "answer 3", "p30"])
        #expect(try fixture.store.messages(conversationID: id).count == 60)
    }

    @Test func theOriginalWireFormsWork() throws {
        let fixture = try AskFixture()
        // Form-encoded prompt, bare token, conversation_id in the query: what the Django clients sent.
        var headers: HTTPHeaders = ["Authorization": fixture.alice, "Content-Type": "application/x-www-form-urlencoded"]
        var request = Request(method: "POST", path: "/ask", headers: headers, body: Array("prompt=hello+there%21".utf8))
        var response = fixture.application.respondAndWait(to: &request).0
        #expect(response.status == .ok)
        #expect(fixture.upstream.requests.last?.messages.last?.content == "hello there!")

        let (_, first, _) = fixture.ask(#"{"prompt":"x"}"#, token: fixture.alice)
        let conversation = try #require((first["response"] as? [String: Any])?["conversation_id"] as? String)
        headers = ["Authorization": fixture.alice]
        request = Request(method: "POST", path: "/ask", query: "conversation_id=\(conversation)", headers: headers, body: Array("prompt=more".utf8))
        response = fixture.application.respondAndWait(to: &request).0
        #expect(response.status == .ok)
        #expect(try fixture.store.messages(conversationID: conversation).count == 4)
    }

    /// A field that does not decode is a 400, not a field dropped: a dropped `conversation_id`
    /// would start a new conversation where the caller meant to continue one.
    @Test func aFieldThatDoesNotDecodeIsRefusedNotDropped() throws {
        let fixture = try AskFixture()
        let (_, first, _) = fixture.ask(#"{"prompt":"x"}"#, token: fixture.alice)
        let conversation = try #require((first["response"] as? [String: Any])?["conversation_id"] as? String)
        for (query, body, message) in [
            ("", "prompt=more&conversation_id=\(conversation)%zz", "conversation_id is not percent-encoded UTF-8"),
            ("conversation_id=%FF", "prompt=more", "conversation_id is not percent-encoded UTF-8"),
            ("", "prompt=100%", "prompt is not percent-encoded UTF-8"),
        ] {
            let (status, json, _) = fixture.ask(body, token: fixture.alice, contentType: "application/x-www-form-urlencoded", query: query)
            #expect(status == 400)
            #expect(json["error"] as? String == message)
        }
        #expect(fixture.upstream.requests.count == 1)
        #expect(try fixture.store.messages(conversationID: conversation).count == 2)
        #expect(try fixture.store.conversations(owner: "t-alice", limit: 10, after: nil).count == 1)
    }

    @Test func authErrors() throws {
        let fixture = try AskFixture()
        let (missing, missingBody, missingResponse) = fixture.ask(#"{"prompt":"x"}"#, token: nil)
        #expect(missing == 401)
        #expect(missingBody["error"] as? String == "access token is required")
        #expect(missingResponse.headers["WWW-Authenticate"] == "Bearer")
        let (invalid, invalidBody, _) = fixture.ask(#"{"prompt":"x"}"#, token: "askd_nope")
        #expect(invalid == 401)
        #expect(invalidBody["error"] as? String == "invalid access token")
        #expect(fixture.upstream.requests.isEmpty)
    }

    @Test(arguments: [
        (#"{}"#, "prompt is required"),
        (#"{"prompt":null}"#, "prompt is required"),
        (#"{"prompt":""}"#, "prompt must not be empty"),
        (#"{"prompt":"   "}"#, "prompt must not be empty"),
        (#"{"prompt":42}"#, "prompt must be a string, not a number"),
        (#"{"prompt":["a"]}"#, "prompt must be a string, not an array"),
        (#"{"prompt":"\#(String(repeating: "a", count: 101))"}"#, "prompt is longer than 100 characters"),
        // One grapheme, 101 code points: the limit bounds what is sent upstream, so it counts these.
        (#"{"prompt":"a\#(String(repeating: "\u{0301}", count: 100))"}"#, "prompt is longer than 100 characters"),
        (#"{"prompt":"x","conversation_id":7}"#, "conversation_id must be a string, not a number"),
        (#"{"prompt":"x","conversation_id":"../../etc"}"#, "conversation_id is malformed: expected the id askd returned"),
        (#"{"prompt":"x""#, "the body is not valid JSON (at byte 13)"),
        (#"{"prompt":"x",}"#, "the body is not valid JSON (at byte 14)"),
        (#"["prompt"]"#, "the body must be a JSON object, not an array"),
        (#""prompt""#, "the body must be a JSON object, not a string"),
    ])
    func badInputIs400NamingTheField(body: String, message: String) throws {
        let fixture = try AskFixture()
        let (status, json, _) = fixture.ask(body, token: fixture.alice)
        #expect(status == 400)
        #expect(json["error"] as? String == message)
        #expect(fixture.upstream.requests.isEmpty)
    }

    /// A form's numbers are decimal as typed; `Double` alone would read hexadecimal, nan and inf.
    @Test func formNumbersAreDecimalOnly() throws {
        let fixture = try AskFixture()
        for value in ["0x10", "0x1p0", "nan", "inf", "1e", "--1", ".", "1.2.3", " 1"] {
            let (status, json, _) = fixture.ask("prompt=hi&max_tokens=\(value)", token: fixture.alice, contentType: "application/x-www-form-urlencoded")
            #expect(status == 400, "\(value)")
            #expect(json["error"] as? String == "max_tokens must be a number", "\(value)")
        }
        for value in ["16", "016", "1.6e1", "%2B16"] {
            let (status, _, _) = fixture.ask("prompt=hi&max_tokens=\(value)", token: fixture.alice, contentType: "application/x-www-form-urlencoded")
            #expect(status == 200, "\(value)")
        }
        #expect(fixture.upstream.requests.allSatisfy { $0.maxTokens == 16 })
        let (half, _, _) = fixture.ask("prompt=hi&temperature=.5", token: fixture.alice, contentType: "application/x-www-form-urlencoded")
        #expect(half == 200)
    }

    /// askd reads a body as it is sent: an encoded one is refused, not read as garbage.
    @Test func anEncodedBodyIs415() throws {
        let fixture = try AskFixture()
        var request = Request(
            method: "POST", path: "/ask",
            headers: ["Authorization": fixture.alice, "Content-Type": "application/json", "Content-Encoding": "gzip"],
            body: Array(#"{"prompt":"hi"}"#.utf8)
        )
        let response = fixture.application.respondAndWait(to: &request).0
        #expect(response.status == .unsupportedMediaType)
        request.headers = ["Authorization": fixture.alice, "Content-Type": "application/json", "Content-Encoding": "identity"]
        #expect(fixture.application.respondAndWait(to: &request).0.status == .ok)
        #expect(fixture.upstream.requests.count == 1)
    }

    @Test func deeplyNestedJSONIsRefusedBeforeDecoding() throws {
        let fixture = try AskFixture()
        let nested = #"{"prompt":"hi","x":"# + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "}"
        let (status, json, _) = fixture.ask(nested, token: fixture.alice)
        #expect(status == 400)
        #expect(json["error"] as? String == "the body nests deeper than 16 levels")
        // Brackets inside strings are text, not nesting.
        let (fine, _, _) = fixture.ask(#"{"prompt":"[[[[[[[[[[[[[[[[[[[[[[[[\"{{{{{{{{{{{{{{{{{{{{"}"#, token: fixture.alice)
        #expect(fine == 200)
    }

    @Test func invalidUTF8AndUnsupportedTypes() throws {
        let fixture = try AskFixture()
        var request = Request(
            method: "POST", path: "/ask", headers: ["Authorization": fixture.alice, "Content-Type": "application/json"],
            body: Array(#"{"prompt":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8)
        )
        #expect(fixture.application.respondAndWait(to: &request).0.status == .badRequest)
        let (status, json, _) = fixture.ask("prompt", token: fixture.alice, contentType: "text/plain")
        #expect(status == 415)
        #expect((json["error"] as? String)?.contains("text/plain") == true)
        let (charset, _, _) = fixture.ask(#"{"prompt":"x"}"#, token: fixture.alice, contentType: "application/json; charset=utf-8")
        #expect(charset == 200)
    }

    @Test func someoneElsesConversationIsNotFoundLikeAnUnknownOne() throws {
        let fixture = try AskFixture()
        let (_, first, _) = fixture.ask(#"{"prompt":"mine"}"#, token: fixture.alice)
        let id = try #require((first["response"] as? [String: Any])?["conversation_id"] as? String)
        let (foreign, foreignBody, _) = fixture.ask(#"{"prompt":"x","conversation_id":"\#(id)"}"#, token: fixture.bob)
        let (unknown, unknownBody, _) = fixture.ask(#"{"prompt":"x","conversation_id":"no-such-id"}"#, token: fixture.bob)
        #expect(foreign == 404 && unknown == 404)
        #expect(foreignBody["error"] as? String == "conversation not found")
        #expect(unknownBody["error"] as? String == "conversation not found")
        #expect(try fixture.store.messages(conversationID: id).count == 2)
        #expect(fixture.delete(id, token: fixture.bob) == 404)
    }

    /// A turn that waits out `turnWaitSeconds` for a busy conversation gets 409 and Retry-After;
    /// another token naming the same conversation gets its 404 at once, without waiting.
    @Test func aBusyConversationIsA409AndAForeignOneIsA404AtOnce() throws {
        let fixture = try AskFixture(settings: AskSettings(maxPromptCharacters: 100, turnWaitSeconds: 0.3))
        let (_, first, _) = fixture.ask(#"{"prompt":"one"}"#, token: fixture.alice)
        let id = try #require((first["response"] as? [String: Any])?["conversation_id"] as? String)
        let held = try fixture.store.acquireTurnLock(conversationID: id, timeout: 1)
        defer { fixture.store.releaseTurnLock(held) }

        let started = Date()
        let (busy, body, response) = fixture.ask(#"{"prompt":"two","conversation_id":"\#(id)"}"#, token: fixture.alice)
        #expect(busy == 409)
        #expect(body["error"] as? String == "conversation is busy")
        #expect(response.headers["Retry-After"] == "1")
        #expect(Date().timeIntervalSince(started) >= 0.3)

        let foreignStart = Date()
        let (foreign, _, _) = fixture.ask(#"{"prompt":"two","conversation_id":"\#(id)"}"#, token: fixture.bob)
        #expect(foreign == 404)
        #expect(Date().timeIntervalSince(foreignStart) < 0.2, "ownership is checked before the turn lock")
        #expect(try fixture.store.messages(conversationID: id).count == 2)
    }

    /// Beyond `maxTurnWaiters` waiting at once, a turn on a busy conversation gets 409 at once:
    /// waiters hold worker threads, and must leave some for everyone else.
    @Test func waitersBeyondTheLimitGet409AtOnce() throws {
        let fixture = try AskFixture(settings: AskSettings(maxPromptCharacters: 100, turnWaitSeconds: 2, maxTurnWaiters: 1))
        let (_, first, _) = fixture.ask(#"{"prompt":"one"}"#, token: fixture.alice)
        let id = try #require((first["response"] as? [String: Any])?["conversation_id"] as? String)
        let held = try fixture.store.acquireTurnLock(conversationID: id, timeout: 1)
        let waiter = Thread { _ = fixture.ask(#"{"prompt":"two","conversation_id":"\#(id)"}"#, token: fixture.alice) }
        waiter.start()
        Thread.sleep(forTimeInterval: 0.3)
        let started = Date()
        let (status, body, _) = fixture.ask(#"{"prompt":"three","conversation_id":"\#(id)"}"#, token: fixture.alice)
        #expect(status == 409)
        #expect(body["error"] as? String == "conversation is busy")
        #expect(Date().timeIntervalSince(started) < 0.5)
        fixture.store.releaseTurnLock(held)
    }

    /// A conversation that kept a model since taken off the allow-list gets the 400 a request
    /// naming it would get, and nothing is asked or stored; naming an allowed model still works.
    @Test func aKeptModelNoLongerAllowedIsRefused() throws {
        let fixture = try AskFixture(settings: AskSettings(maxPromptCharacters: 100, models: ["fake-model", "other"]))
        try fixture.store.commitTurn(Turn(
            conversationID: "c-retired", owner: "t-alice", startsConversation: true, prompt: "one", answer: "two", model: "retired",
            usage: nil, date: Date(), settings: ConversationSettings(model: "retired")
        ))
        let (status, body, _) = fixture.ask(#"{"prompt":"again","conversation_id":"c-retired"}"#, token: fixture.alice)
        #expect(status == 400)
        #expect((body["error"] as? String)?.hasPrefix("model retired is not allowed; allowed: fake-model, other") == true)
        #expect(fixture.upstream.requests.isEmpty)
        let (named, _, _) = fixture.ask(#"{"prompt":"again","conversation_id":"c-retired","model":"other"}"#, token: fixture.alice)
        #expect(named == 200)
        #expect(fixture.upstream.requests.last?.model == "other")
    }

    /// A turn whose lock was taken over is a 503 to try again, with the cause for the log only.
    @Test func aLostTurnLockIsA503ToTryAgain() {
        let error = StoreError.turnLockLost("c1").httpError
        #expect(error.status == .serviceUnavailable)
        #expect(error.headers["Retry-After"] == "5")
        #expect(error.message.hasSuffix("nothing was stored, try again"))
        #expect(error.logDetail?.contains("c1") == true)
    }

    @Test(arguments: [
        (UpstreamError.failed(detail: "500"), 502, "the model could not answer"),
        (UpstreamError.rejectedCredentials(detail: "401"), 502, "upstream rejected askd's credentials"),
        (UpstreamError.timedOut(detail: "120 s"), 504, "the model did not answer in time"),
        (UpstreamError.rateLimited(retryAfter: "7"), 429, "the model is rate-limited; try again later"),
    ])
    func aFailedUpstreamStoresNothing(failure: UpstreamError, status: Int, message: String) throws {
        let fixture = try AskFixture()
        let (_, first, _) = fixture.ask(#"{"prompt":"one"}"#, token: fixture.alice)
        let id = try #require((first["response"] as? [String: Any])?["conversation_id"] as? String)
        fixture.upstream.failure = failure
        let (continued, body, response) = fixture.ask(#"{"prompt":"two","conversation_id":"\#(id)"}"#, token: fixture.alice)
        #expect(continued == status)
        #expect(body["error"] as? String == message)
        if status == 429 { #expect(response.headers["Retry-After"] == "7") }
        #expect(try fixture.store.messages(conversationID: id).count == 2)
        // A new conversation whose first turn failed does not exist.
        let (fresh, _, _) = fixture.ask(#"{"prompt":"new"}"#, token: fixture.alice)
        #expect(fresh == status)
        #expect(fixture.upstream.requests.count == 3)
    }

    @Test func deleteRemovesTheConversation() throws {
        let fixture = try AskFixture()
        let (_, first, _) = fixture.ask(#"{"prompt":"one"}"#, token: fixture.alice)
        let id = try #require((first["response"] as? [String: Any])?["conversation_id"] as? String)
        #expect(fixture.delete(id, token: nil) == 401)
        #expect(fixture.delete(id, token: fixture.alice) == 204)
        #expect(try fixture.store.messages(conversationID: id).isEmpty)
        #expect(fixture.delete(id, token: fixture.alice) == 404)
        #expect(fixture.delete("bad%20id", token: fixture.alice) == 404)
        let (afterwards, _, _) = fixture.ask(#"{"prompt":"x","conversation_id":"\#(id)"}"#, token: fixture.alice)
        #expect(afterwards == 404)
    }
}

struct ChatHistoryTests {
    private func history(_ count: Int) -> [StoredMessage] {
        (1...count).map { StoredMessage(sequence: $0, role: $0 % 2 == 1 ? .user : .assistant, content: "m\($0)", createdAt: Date()) }
    }

    @Test func keepsTheNewestMessagesWithinTheLimits() {
        let settings = AskSettings(maxHistoryMessages: 3, maxHistoryCharacters: 1000)
        let messages = ChatHistory.messages(system: "sys", history: history(6), prompt: "now", settings: settings)
        // The newest 3 are m4 (assistant), m5, m6; an answer without its question is dropped.
        #expect(messages.map(\.content) == ["sys", "m5", "m6", "now"])
    }

    @Test func theCharacterBudgetTrimsOldestFirst() {
        let settings = AskSettings(maxHistoryMessages: 100, maxHistoryCharacters: 4)
        let messages = ChatHistory.messages(system: nil, history: history(4), prompt: "now", settings: settings)
        #expect(messages.map(\.content) == ["m3", "m4", "now"])
    }
}
