@testable import API
import Auth
import Foundation
import HTTP
import Store
import Testing

/// Exports and imports over a memory store, with the tokens of Alice and Bob.
struct ExportFixture {
    let store = MemoryStore()
    let alice: String
    let bob: String
    let application: Application

    init() throws {
        alice = try TokenSecret.generate()
        bob = try TokenSecret.generate()
        try store.insertToken(TokenRecord(id: "t-alice", name: "alice", hash: TokenSecret.hash(alice), createdAt: Date()))
        try store.insertToken(TokenRecord(id: "t-bob", name: "bob", hash: TokenSecret.hash(bob), createdAt: Date()))
        let verifier = StoreTokenVerifier(store: store)
        let exports = ExportHandler(store: store, verifier: verifier)
        var router = Router()
        router.get("/conversation/{conversation_id}/export", use: exports.one)
        router.get("/conversations/export", use: exports.all)
        router.post("/conversations/import", use: ImportHandler(store: store, verifier: verifier).handle)
        application = Application(router: router, logger: .init(label: "test"))
    }

    /// `count` conversations of Alice's, `c0`, `c1`, ..., each a second apart, with `turns` turns.
    func addConversations(_ count: Int, turns: Int = 1, owner: String = "t-alice", prefix: String = "c") throws {
        for index in 0..<count {
            for turn in 0..<turns {
                try store.commitTurn(Turn(
                    conversationID: "\(prefix)\(index)", owner: owner, startsConversation: turn == 0, prompt: "q\(index).\(turn) *bold*",
                    answer: "a\(index).\(turn)\nline two", model: "m", usage: TokenUsage(promptTokens: 1, completionTokens: 2, totalTokens: 3),
                    date: Date(timeIntervalSince1970: 1_795_700_000 + Double(index) + Double(turn) / 10 + 0.123)
                ))
            }
        }
    }

    func send(_ method: String, _ path: String, query: String = "", token: String? = nil, body: String = "") -> (Response, RecordingChannel?) {
        var headers = HTTPHeaders()
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        var request = Request(method: method, path: path, query: query, headers: headers, body: Array(body.utf8))
        return application.respondAndWait(to: &request)
    }
}

private func json(_ response: Response) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(response.bodyText.utf8))) as? [String: Any] ?? [:]
}

private func lines(_ response: Response) -> [[String: Any]] {
    response.bodyText.split(separator: "\n").map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:] }
}

@Suite struct ExportImportTests {
    @Test func oneConversationAsJSONHasEveryField() throws {
        let fixture = try ExportFixture()
        try fixture.addConversations(1, turns: 2)
        _ = try fixture.store.updateConversation(id: "c0", owner: "t-alice", change: ConversationSettingsChange(title: "T", system: "S"))
        let (response, _) = fixture.send("GET", "/conversation/c0/export", token: fixture.alice)
        #expect(response.status == .ok)
        #expect(response.headers["Content-Disposition"] == "attachment; filename=\"conversation-c0.json\"")
        let body = json(response)
        #expect(body["id"] as? String == "c0")
        #expect(body["title"] as? String == "T")
        #expect(body["system"] as? String == "S")
        #expect(body["model"] is NSNull)
        #expect(body["created_at"] as? String == "2026-11-26T13:33:20.123Z")
        let messages = try #require(body["messages"] as? [[String: Any]])
        #expect(messages.map { $0["id"] as? Int } == [1, 2, 3, 4])
        #expect(messages.map { $0["role"] as? String } == ["user", "assistant", "user", "assistant"])
        #expect(messages[1]["model"] as? String == "m")
        #expect((messages[1]["usage"] as? [String: Int]) == ["prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3])
        #expect(messages[0]["usage"] is NSNull)
        #expect(messages[2]["created_at"] as? String == "2026-11-26T13:33:20.223Z")
    }

    @Test func oneConversationAsMarkdownIsForPeople() throws {
        let fixture = try ExportFixture()
        try fixture.addConversations(1)
        let (response, _) = fixture.send("GET", "/conversation/c0/export", query: "format=markdown", token: fixture.alice)
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"] == "text/markdown; charset=utf-8")
        #expect(response.headers["Content-Disposition"] == "attachment; filename=\"conversation-c0.md\"")
        let text = response.bodyText
        #expect(text.hasPrefix("# q0.0 *bold*\n"))
        #expect(text.contains("\n## User, 2026-11-26T13:33:20Z\n\nq0.0 *bold*\n"))
        #expect(text.contains("\n## Assistant (m), 2026-11-26T13:33:20Z\n\na0.0\nline two\n"))
    }

    @Test func aBadFormatIs400AndAForeignConversationIsUnknown() throws {
        let fixture = try ExportFixture()
        try fixture.addConversations(1)
        #expect(fixture.send("GET", "/conversation/c0/export", query: "format=xml", token: fixture.alice).0.status == .badRequest)
        let foreign = fixture.send("GET", "/conversation/c0/export", token: fixture.bob).0
        let unknown = fixture.send("GET", "/conversation/nope/export", token: fixture.bob).0
        #expect(foreign.status == .notFound)
        #expect(foreign.bodyText == unknown.bodyText)
        #expect(fixture.send("GET", "/conversation/c0/export").0.status == .unauthorized)
        #expect(fixture.send("GET", "/conversations/export").0.status == .unauthorized)
        #expect(fixture.send("POST", "/conversations/import", body: "{}").0.status == .unauthorized)
    }

    @Test func allConversationsStreamAsJSONLinesALineAWrite() throws {
        let fixture = try ExportFixture()
        try fixture.addConversations(120)
        try fixture.addConversations(3, owner: "t-bob", prefix: "b")
        let (response, channel) = fixture.send("GET", "/conversations/export", token: fixture.alice)
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"] == "application/x-ndjson")
        let exported = lines(response)
        // Three pages of the store, written as they were read: one write a line.
        #expect(exported.count == 120)
        #expect(channel?.chunks.count == 120)
        #expect(exported.first?["id"] as? String == "c119", "newest first")
        #expect(Set(exported.compactMap { $0["id"] as? String }).count == 120)
        let (empty, _) = fixture.send("GET", "/conversations/export", token: try TokenSecret.generate())
        #expect(empty.status == .unauthorized)
    }

    @Test func exportImportExportKeepsEverythingButTheIDs() throws {
        let fixture = try ExportFixture()
        try fixture.addConversations(60, turns: 2)
        _ = try fixture.store.updateConversation(id: "c7", owner: "t-alice", change: ConversationSettingsChange(title: "Seven", system: "sys", model: "x"))
        let first = fixture.send("GET", "/conversations/export", token: fixture.alice).0
        let usageBefore = try fixture.store.usage(owner: "t-bob", day: "2026-11-26")
        let (imported, _) = fixture.send("POST", "/conversations/import", token: fixture.bob, body: first.bodyText)
        #expect(imported.status == .created, "\(imported.bodyText)")
        let answer = json(imported)
        #expect(answer["imported"] as? Int == 60)
        let pairs = try #require(answer["conversations"] as? [[String: Any]])
        #expect(pairs.map { $0["source_id"] as? String } == lines(first).map { $0["id"] as? String })
        #expect(Set(pairs.compactMap { $0["id"] as? String }).isDisjoint(with: Set((0..<60).map { "c\($0)" })), "new ids")
        // Imported messages are not usage.
        #expect(try fixture.store.usage(owner: "t-bob", day: "2026-11-26") == usageBefore)

        let second = fixture.send("GET", "/conversations/export", token: fixture.bob).0
        func withoutIDs(_ response: Response) -> [NSDictionary] {
            lines(response).map { line in
                var line = line
                line["id"] = nil
                return line as NSDictionary
            }
        }
        #expect(withoutIDs(second) == withoutIDs(first))
        #expect(withoutIDs(second).count == 60)
    }

    @Test func aBadLineIs400NamingItAndNothingIsStored() throws {
        let fixture = try ExportFixture()
        try fixture.addConversations(3)
        let good = fixture.send("GET", "/conversations/export", token: fixture.alice).0.bodyText.split(separator: "\n").map(String.init)
        let cases: [(String, String)] = [
            (good[0] + "\n\n" + good[1] + "\n{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}\n", "line 4: messages[0].role must be system, user or assistant"),
            (good[0] + "\nnot json\n", "line 2: not valid JSON (at byte 1)"),
            ("[1]\n", "line 1: expected a JSON object, not an array"),
            ("{\"title\": \"x\"}\n", "line 1: messages is missing"),
            ("{\"messages\": [], \"created_at\": \"yesterday\"}", "line 1: created_at must be an RFC 3339 date such as 2026-01-02T03:04:05.678Z"),
            ("{\"messages\": [{\"role\": \"user\"}]}", "line 1: messages[0].content is missing"),
            ("{\"messages\": [{\"id\": 2, \"role\": \"user\", \"content\": \"a\"}, {\"id\": 1, \"role\": \"user\", \"content\": \"b\"}]}",
             "line 1: messages[1].id must be a whole number above the one before"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"a\", \"usage\": {\"prompt_tokens\": -1}}]}",
             "line 1: messages[0].usage.prompt_tokens must be a whole number from 0"),
            ("{\"messages\": [], \"title\": 5}", "line 1: title must be a string or null, not a number"),
        ]
        for (body, error) in cases {
            let (response, _) = fixture.send("POST", "/conversations/import", token: fixture.bob, body: body)
            #expect(response.status == .badRequest)
            #expect(json(response)["error"] as? String == error)
        }
        #expect(try fixture.store.conversations(owner: "t-bob", limit: 10, after: nil).isEmpty, "nothing stored")
    }

    @Test func previousVersionsGoOutAndComeBack() throws {
        let fixture = try ExportFixture()
        let line = #"{"id":"src","title":null,"system":null,"model":null,"created_at":"2026-01-02T03:04:05.006Z","updated_at":"2026-01-02T03:04:07.000Z","#
            + #""messages":[{"id":1,"role":"user","content":"q","model":null,"usage":null,"created_at":"2026-01-02T03:04:05.006Z","previous_versions":[]},"#
            + #"{"id":2,"role":"assistant","content":"a3","model":"m","usage":null,"created_at":"2026-01-02T03:04:07.000Z","previous_versions":["#
            + #"{"content":"a1","model":"m0","usage":{"completion_tokens":2,"prompt_tokens":1,"total_tokens":3},"created_at":"2026-01-02T03:04:05.500Z"},"#
            + #"{"content":"a2","model":null,"usage":null,"created_at":"2026-01-02T03:04:06.000Z"}]}]}"#
        let (imported, _) = fixture.send("POST", "/conversations/import", token: fixture.bob, body: line + "\n")
        #expect(imported.status == .created, "\(imported.bodyText)")
        let id = try #require((json(imported)["conversations"] as? [[String: Any]])?.first?["id"] as? String)
        #expect(try fixture.store.previousVersions(conversationID: id, sequences: 1...2)[2]?.map(\.content) == ["a1", "a2"])
        let exported = fixture.send("GET", "/conversations/export", token: fixture.bob).0.bodyText
        func parsed(_ text: String) -> NSDictionary? { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? NSDictionary }
        #expect(exported.hasSuffix("\n"))
        #expect(parsed(exported) == parsed(line.replacingOccurrences(of: "\"src\"", with: "\"\(id)\"")), "the same line, but for the id")
        let (bad, _) = fixture.send("POST", "/conversations/import", token: fixture.bob, body: #"{"messages":[{"role":"assistant","content":"a","previous_versions":[{"model":"m"}]}]}"#)
        #expect(json(bad)["error"] as? String == "line 1: messages[0].previous_versions[0].content is missing")
    }

    @Test func anEmptyImportStoresNothingAndBlankLinesAreSkipped() throws {
        let fixture = try ExportFixture()
        let (empty, _) = fixture.send("POST", "/conversations/import", token: fixture.bob, body: "")
        #expect(empty.status == .created)
        #expect(json(empty)["imported"] as? Int == 0)
        let (one, _) = fixture.send("POST", "/conversations/import", token: fixture.bob, body: "\r\n  \n{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\r\n")
        #expect(one.status == .created)
        let id = try #require((json(one)["conversations"] as? [[String: Any]])?.first?["id"] as? String)
        #expect((json(one)["conversations"] as? [[String: Any]])?.first?["source_id"] is NSNull)
        #expect(try fixture.store.messages(conversationID: id).map(\.content) == ["hi"])
    }
}

extension Response {
    /// The body of a plain answer as text.
    var bodyText: String {
        guard case .bytes(let bytes) = body else { return "<later>" }
        return String(decoding: bytes, as: UTF8.self)
    }
}

@Suite struct ExportCutShortTests {
    @Test func anExportCutShortByAStopSaysSoInItsLastLine() throws {
        let fixture = try ExportFixture()
        try fixture.addConversations(5)
        var request = Request(method: "GET", path: "/conversations/export", headers: ["Authorization": "Bearer \(fixture.alice)"])
        let (_, channel) = fixture.application.respondAndWait(to: &request) { $0.mustEndAfterWrites = 2 }
        let chunks = try #require(channel?.chunks)
        #expect(chunks.count == 3)
        #expect(chunks.last == #"{"error":"askd is stopping; export again"}"# + "\n")
    }

    @Test func aClientThatLeavesStopsTheExport() throws {
        let fixture = try ExportFixture()
        try fixture.addConversations(5)
        var request = Request(method: "GET", path: "/conversations/export", headers: ["Authorization": "Bearer \(fixture.alice)"])
        let (_, channel) = fixture.application.respondAndWait(to: &request) { $0.leaveAtWrite = 2 }
        #expect(channel?.chunks.count == 2)
    }
}
