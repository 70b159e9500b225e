@testable import API
import Auth
import Foundation
import HTTP
import Store
import Testing
import Text

/// `GET /search` over a memory store: Alice's hits in the agreed shape, her pages, and the
/// refusals of bad input. Bob's conversations never show.
struct SearchHandlerTests {
    let store = MemoryStore()
    let alice: String
    let bob: String
    let application: Application

    init() throws {
        alice = try TokenSecret.generate()
        bob = try TokenSecret.generate()
        try store.insertToken(TokenRecord(id: "t-alice", name: "alice", hash: TokenSecret.hash(alice), createdAt: Date()))
        try store.insertToken(TokenRecord(id: "t-bob", name: "bob", hash: TokenSecret.hash(bob), createdAt: Date()))
        var router = Router()
        router.get("/search", use: SearchHandler(store: store, verifier: StoreTokenVerifier(store: store)).handle)
        application = Application(router: router, logger: .init(label: "test"))
    }

    private func ask(_ owner: String, _ id: String, _ prompt: String, title: String? = nil, second: Double) throws {
        var turn = Turn(
            conversationID: id, owner: owner, startsConversation: true, prompt: prompt, answer: "noted", model: "m", usage: nil,
            date: Date(timeIntervalSince1970: 1_795_700_000 + second)
        )
        turn.settings.title = title
        try store.commitTurn(turn)
    }

    private func search(_ query: String, as token: String? = nil) -> (Int, [String: Any]) {
        var request = Request(method: "GET", path: "/search", query: query, headers: ["Authorization": "Bearer \(token ?? alice)"])
        let response = application.respond(to: &request)
        guard case .bytes(let bytes) = response.body else { return (response.status.code, [:]) }
        return (response.status.code, (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:])
    }

    @Test func hitsHaveTheAgreedShape() throws {
        try ask("t-alice", "c-1", "Where is my parcel?\nIt was due Monday", second: 1)
        try ask("t-alice", "c-2", "hello", title: "Parcel tracking", second: 2)
        try ask("t-bob", "c-3", "my parcel too", second: 3)
        let (status, json) = search("q=parcel")
        #expect(status == 200)
        let results = try #require(json["results"] as? [[String: Any]])
        #expect(results.count == 2)
        #expect(json["next_cursor"] is NSNull)
        let message = try #require(results.first { $0["conversation_id"] as? String == "c-1" })
        #expect(message["message_id"] as? Int == 1)
        #expect(message["role"] as? String == "user")
        #expect(message["title"] as? String == "Where is my parcel?", "the list's title, from the first prompt")
        #expect(message["snippet"] as? String == "Where is my [parcel]?\nIt was due Monday")
        #expect(message["created_at"] as? String == "2026-11-26T13:33:21Z")
        let title = try #require(results.first { $0["conversation_id"] as? String == "c-2" })
        #expect(title["message_id"] is NSNull && title["role"] is NSNull)
        #expect(title["title"] as? String == "Parcel tracking")
        #expect(Set(title.keys) == ["conversation_id", "title", "message_id", "role", "snippet", "created_at"])
        #expect((search("q=parcel", as: bob).1["results"] as? [[String: Any]])?.map { $0["conversation_id"] as? String } == ["c-3"])
    }

    @Test func pagesFollowNextCursor() throws {
        for index in 0..<5 { try ask("t-alice", "c-\(index)", "walrus \(index)", second: Double(index)) }
        var seen: [String] = []
        var query = "q=walrus&limit=2"
        for _ in 0..<10 {
            let (status, json) = search(query)
            #expect(status == 200)
            seen += (json["results"] as? [[String: Any]] ?? []).compactMap { $0["conversation_id"] as? String }
            guard let next = json["next_cursor"] as? String else { break }
            query = "q=walrus&limit=2&cursor=\(next)"
        }
        #expect(seen == ["c-4", "c-3", "c-2", "c-1", "c-0"], "equal scores: newest first")
    }

    @Test func badInputIsA400ThatSaysWhy() throws {
        let cases: [(String, String)] = [
            ("", "q is missing"), ("q=", "no words"), ("q=%22open", "unbalanced quote"), ("q=ab*", "at least 3 letters"),
            ("q=*", "at least 3 letters"), ("q=%21%3F%28%29", "no words"), ("q=\(String(repeating: "a", count: 501))", "longer than 500"),
            ("q=%00", "no words"), ("q=x&limit=0", "limit must be"), ("q=x&limit=101", "limit must be"), ("q=x&limit=two", "limit must be"),
            ("q=x&cursor=nope", "cursor is malformed"), ("q=x&cursor=\(Base64URL.encode(Array("1.2.3".utf8)))", "cursor is malformed"),
            ("q=x&cursor=\(Base64URL.encode(Array("1.2.-3.c-1".utf8)))", "cursor is malformed"),
        ]
        for (query, reason) in cases {
            let (status, json) = search(query)
            #expect(status == 400, "\(query)")
            #expect((json["error"] as? String)?.contains(reason) == true, "\(query): \(json)")
        }
        #expect(search("q=x", as: "not-a-token").0 == 401)
    }

    @Test func cursorsRoundTrip() throws {
        let cursor = SearchCursor(score: -123_456_789, createdAt: Date(milliseconds: 1_795_700_000_123), conversationID: "c-1", sequence: 7)
        #expect(try SearchHandler.cursor(from: SearchHandler.token(for: cursor)) == cursor)
    }
}
