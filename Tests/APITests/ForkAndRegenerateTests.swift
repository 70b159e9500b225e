@testable import API
import Auth
import Foundation
import HTTP
import Logging
import Store
import Testing
import Upstream

/// `/ask`, `GET /conversation/{id}`, `/fork` and `/regenerate` over a memory store, with Alice's
/// and Bob's tokens and a fake model.
private struct Fixture {
    let store = MemoryStore()
    let upstream = FakeUpstream()
    let alice: String
    let bob: String
    let application: Application

    init() throws {
        alice = try TokenSecret.generate()
        bob = try TokenSecret.generate()
        try store.insertToken(TokenRecord(id: "t-alice", name: "alice", hash: TokenSecret.hash(alice), createdAt: Date()))
        try store.insertToken(TokenRecord(id: "t-bob", name: "bob", hash: TokenSecret.hash(bob), createdAt: Date()))
        let verifier = StoreTokenVerifier(store: store)
        let ask = AskHandler(store: store, verifier: verifier, upstream: upstream, settings: AskSettings(), logger: Logger(label: "test"))
        let conversations = ConversationsHandler(store: store, verifier: verifier, limits: AskSettings().resolvingModels(for: upstream))
        var router = Router()
        router.post("/ask", use: ask.handle)
        router.post("/conversation/{conversation_id}/regenerate", use: ask.regenerate)
        router.post("/conversation/{conversation_id}/fork", use: conversations.fork)
        router.get("/conversation/{conversation_id}", use: conversations.read)
        application = Application(router: router, logger: Logger(label: "test"))
    }

    func call(_ method: String, _ path: String, _ body: String = "", token: String) -> (status: Int, json: [String: Any], bytes: [UInt8]) {
        var headers: HTTPHeaders = ["Authorization": "Bearer \(token)"]
        if !body.isEmpty { headers.add(name: "Content-Type", value: "application/json") }
        var request = Request(method: method, path: path, headers: headers, body: Array(body.utf8))
        let (response, _) = application.respondAndWait(to: &request)
        guard case .bytes(let bytes) = response.body else { return (response.status.code, [:], []) }
        return (response.status.code, (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:], bytes)
    }

    /// A conversation of Alice's with `prompts.count` turns.
    func conversation(_ prompts: [String]) throws -> String {
        var id: String?
        for prompt in prompts {
            let conversation = id.map { #","conversation_id":"\#($0)""# } ?? ""
            let (status, json, _) = call("POST", "/ask", #"{"prompt":"\#(prompt)"\#(conversation)}"#, token: alice)
            #expect(status == 200)
            id = (json["response"] as? [String: Any])?["conversation_id"] as? String
        }
        return try #require(id)
    }
}

struct ForkAndRegenerateTests {
    // MARK: Regenerate

    @Test func aRegenerationAsksTheLastPromptAgainAfterTheHistoryBeforeIt() throws {
        let fixture = try Fixture()
        let id = try fixture.conversation(["one", "two"])
        let (status, json, _) = fixture.call("POST", "/conversation/\(id)/regenerate", #"{"temperature":1.5,"max_tokens":7}"#, token: fixture.alice)
        #expect(status == 200)
        #expect((json["response"] as? [String: Any])?["conversation_id"] as? String == id)
        let sent = try #require(fixture.upstream.requests.last)
        #expect(sent.messages.map(\.content) == ["one", "answer 1", "two"])
        #expect(sent.temperature == 1.5)
        #expect(sent.maxTokens == 7)
        let messages = try fixture.store.messages(conversationID: id)
        // The fake model says how many messages it was sent: the same 3 as the first time.
        #expect(messages.map(\.content) == ["one", "answer 1", "two", "answer 3"])
        #expect(try fixture.store.previousVersions(conversationID: id, sequences: 1...4)[4]?.map(\.content) == ["answer 3"])

        let read = fixture.call("GET", "/conversation/\(id)", token: fixture.alice).json
        let last = try #require((read["messages"] as? [[String: Any]])?.last)
        #expect(last["id"] as? Int == 4)
        let versions = try #require(last["previous_versions"] as? [[String: Any]])
        #expect(versions.map { $0["content"] as? String } == ["answer 3"])
        #expect(versions.first?["model"] as? String == "fake-model")
        #expect((versions.first?["usage"] as? [String: Any])?["total_tokens"] as? Int == 12)
        #expect(versions.first?["created_at"] is String)
    }

    @Test func aFailedModelChangesNothing() throws {
        let fixture = try Fixture()
        let id = try fixture.conversation(["one"])
        let before = try fixture.store.messages(conversationID: id)
        fixture.upstream.failure = .failed(detail: "down")
        #expect(fixture.call("POST", "/conversation/\(id)/regenerate", token: fixture.alice).status == 502)
        #expect(try fixture.store.messages(conversationID: id) == before)
        #expect(try fixture.store.previousVersions(conversationID: id, sequences: 1...2).isEmpty)
    }

    @Test func aConversationThatEndsWithoutAnAnswerGets409AndTheModelIsNotAsked() throws {
        let fixture = try Fixture()
        let conversation = Conversation(id: "c-1", owner: "t-alice", createdAt: Date(), updatedAt: Date())
        try fixture.store.importConversation(conversation, messages: [StoredMessage(sequence: 1, role: .user, content: "hi", createdAt: Date())])
        let (status, json, _) = fixture.call("POST", "/conversation/c-1/regenerate", token: fixture.alice)
        #expect(status == 409)
        #expect((json["error"] as? String)?.contains("no answer to regenerate") == true)
        try fixture.store.importConversation(Conversation(id: "c-2", owner: "t-alice", createdAt: Date(), updatedAt: Date()), messages: [])
        #expect(fixture.call("POST", "/conversation/c-2/regenerate", token: fixture.alice).status == 409)
        #expect(fixture.upstream.requests.isEmpty)
    }

    @Test func aForeignConversationIsAnsweredAsAnUnknownOne() throws {
        let fixture = try Fixture()
        let id = try fixture.conversation(["one"])
        for (path, body) in [("regenerate", ""), ("regenerate", #"{"stream":true}"#), ("fork", #"{"message_id":1}"#)] {
            let foreign = fixture.call("POST", "/conversation/\(id)/\(path)", body, token: fixture.bob)
            let unknown = fixture.call("POST", "/conversation/nope/\(path)", body, token: fixture.bob)
            let malformed = fixture.call("POST", "/conversation/no%20pe/\(path)", body, token: fixture.bob)
            #expect(foreign.status == 404)
            #expect(foreign.bytes == unknown.bytes)
            #expect(foreign.status == malformed.status && foreign.bytes == malformed.bytes)
        }
        #expect(fixture.upstream.requests.count == 1)
    }

    @Test func theRegenerateBodyIsCheckedLikeAsks() throws {
        func parse(_ body: String, accept: String? = nil, contentType: String = "application/json") throws -> AskInput {
            var headers: HTTPHeaders = ["Content-Type": contentType]
            if let accept { headers.add(name: "Accept", value: accept) }
            let request = Request(method: "POST", path: "/", headers: headers, body: Array(body.utf8))
            return try RegenerateInput.parse(request, conversationID: "c-1", limits: AskSettings(models: ["a", "b"]))
        }
        let plain = try parse("")
        #expect(plain.kind == .regenerate && plain.conversationID == "c-1" && !plain.stream && plain.settings == ConversationSettings())
        #expect(try parse("", accept: "text/event-stream").stream)
        #expect(try parse(#"{"stream":true,"model":"b","temperature":0,"max_tokens":10}"#) == {
            var input = AskInput(prompt: "", conversationID: "c-1", stream: true)
            input.kind = .regenerate
            input.settings.model = "b"
            input.temperature = 0
            input.maxTokens = 10
            return input
        }())
        #expect(try parse("stream=true&temperature=0.5", contentType: "application/x-www-form-urlencoded").temperature == 0.5)
        for bad in [#"{"prompt":"x"}"#, #"{"system":"x"}"#, #"{"model":"c"}"#, #"{"temperature":-1}"#, #"{"max_tokens":0}"#, #"{"stream":1}"#] {
            #expect(throws: HTTPError.self, "\(bad)") { try parse(bad) }
        }
    }

    // MARK: Fork

    @Test func theForkBodyNamesAMessageAndMaybeATitle() throws {
        func parse(_ body: String, contentType: String = "application/json") throws -> ForkInput {
            try ForkInput.parse(Request(method: "POST", path: "/", headers: ["Content-Type": contentType], body: Array(body.utf8)), limits: AskSettings())
        }
        #expect(try parse(#"{"message_id":3}"#) == ForkInput(messageID: 3, title: nil))
        #expect(try parse(#"{"message_id":3,"title":"Here"}"#) == ForkInput(messageID: 3, title: "Here"))
        #expect(try parse(#"{"message_id":3,"title":null}"#) == ForkInput(messageID: 3, title: nil))
        #expect(try parse(#"{"message_id":3,"title":"  "}"#) == ForkInput(messageID: 3, title: nil))
        #expect(try parse("message_id=12&title=Form", contentType: "application/x-www-form-urlencoded") == ForkInput(messageID: 12, title: "Form"))
        let bad = [
            "", "{}", #"{"message_id":null}"#, #"{"message_id":0}"#, #"{"message_id":-1}"#, #"{"message_id":2.5}"#, #"{"message_id":1e20}"#,
            #"{"message_id":2147483648}"#, #"{"message_id":"3"}"#, #"{"message_id":true}"#, #"{"message_id":1,"title":5}"#,
            #"{"message_id":1,"other":1}"#, #"{"message_id":1,"title":"\#(String(repeating: "x", count: 201))"}"#,
        ]
        for body in bad {
            #expect(throws: HTTPError.self, "\(body)") { try parse(body) }
        }
        #expect(throws: HTTPError.self) { try parse("message_id=x", contentType: "application/x-www-form-urlencoded") }
        #expect(throws: HTTPError.self) { try parse("message_id=99999999999", contentType: "application/x-www-form-urlencoded") }
    }

    @Test func aForkWithoutATitleTakesTheOriginalsMarkedAsAFork() {
        func summary(title: String?, firstPrompt: String?) -> ConversationSummary {
            ConversationSummary(
                conversation: Conversation(id: "c", owner: "o", createdAt: Date(), updatedAt: Date(), settings: ConversationSettings(title: title)),
                messageCount: 2, firstPrompt: firstPrompt, lastModel: nil
            )
        }
        #expect(ConversationsHandler.forkTitle(of: summary(title: "Trip", firstPrompt: "ignored")) == "Trip (fork)")
        #expect(ConversationsHandler.forkTitle(of: summary(title: nil, firstPrompt: "\n  plan a   trip\nsecond line")) == "plan a trip (fork)")
        #expect(ConversationsHandler.forkTitle(of: summary(title: nil, firstPrompt: nil)) == nil)
        let long = ConversationsHandler.forkTitle(of: summary(title: String(repeating: "é", count: 200), firstPrompt: nil))
        #expect(long == String(repeating: "é", count: 193) + " (fork)")
        let combining = ConversationsHandler.forkTitle(of: summary(title: String(repeating: "e\u{301}", count: 100), firstPrompt: nil))
        #expect(combining?.unicodeScalars.count ?? 0 <= ConversationFields.maxTitleCharacters)
        #expect(combining?.hasPrefix("e\u{301}") == true)
    }

    @Test func aForkAnswers201WithTheNewConversationAndLeavesTheOriginal() throws {
        let fixture = try Fixture()
        let id = try fixture.conversation(["one", "two"])
        let original = try fixture.store.messages(conversationID: id)
        let (status, json, _) = fixture.call("POST", "/conversation/\(id)/fork", #"{"message_id":3}"#, token: fixture.alice)
        #expect(status == 201)
        let forkID = try #require(json["id"] as? String)
        #expect(forkID != id)
        #expect(json["title"] as? String == "one (fork)")
        #expect((json["messages"] as? [[String: Any]])?.map { $0["id"] as? Int ?? 0 } == [1, 2, 3])
        #expect(try fixture.store.messages(conversationID: forkID) == Array(original.prefix(3)))
        #expect(try fixture.store.messages(conversationID: id) == original)
        #expect(try fixture.store.conversation(id: forkID, owner: "t-alice") != nil)

        let missing = fixture.call("POST", "/conversation/\(id)/fork", #"{"message_id":5}"#, token: fixture.alice)
        #expect(missing.status == 404)
        #expect(missing.json["error"] as? String == "message 5 not found in this conversation")
        #expect(fixture.store.conversationCount == 2)
    }
}
