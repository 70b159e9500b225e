@testable import API
import Auth
import Foundation
import HTTP
import Store
import Testing
import Text

/// The conversation routes over a memory store, with Alice's token and one conversation of hers.
struct ConversationFixture {
    let store = MemoryStore()
    let alice: String
    let id = "c-1"
    let application: Application

    /// `turns` turns of Alice's in conversation `id`: prompts "q1", "q2", ..., answers by "m<turn>".
    init(turns: Int) throws {
        alice = try TokenSecret.generate()
        try store.insertToken(TokenRecord(id: "t-alice", name: "alice", hash: TokenSecret.hash(alice), createdAt: Date()))
        for index in 1...turns {
            try store.commitTurn(Turn(
                conversationID: id, owner: "t-alice", startsConversation: index == 1, prompt: "q\(index)", answer: "a\(index)",
                model: "m\(index)", usage: nil, date: Date(timeIntervalSince1970: 1_795_700_000 + Double(index))
            ))
        }
        let handler = ConversationsHandler(store: store, verifier: StoreTokenVerifier(store: store))
        var router = Router()
        router.get("/conversation/{conversation_id}", use: handler.read)
        router.patch("/conversation/{conversation_id}", use: handler.update)
        application = Application(router: router, logger: .init(label: "test"))
    }

    func request(_ method: String = "GET", query: String = "", body: String = "") -> (Int, [String: Any]) {
        var headers: HTTPHeaders = ["Authorization": "Bearer \(alice)"]
        if !body.isEmpty { headers.add(name: "Content-Type", value: "application/json") }
        var request = Request(method: method, path: "/conversation/\(id)", query: query, headers: headers, body: Array(body.utf8))
        let response = application.respond(to: &request)
        guard case .bytes(let bytes) = response.body else { return (response.status.code, [:]) }
        return (response.status.code, (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:])
    }

    /// Every page from the first, following `next_cursor`: each page's sequence numbers.
    func pages(limit: Int?) throws -> [[Int]] {
        var pages: [[Int]] = []
        var cursor: String?
        repeat {
            let query = [limit.map { "limit=\($0)" }, cursor.map { "cursor=\($0)" }].compactMap { $0 }.joined(separator: "&")
            let (status, json) = request(query: query)
            #expect(status == 200, "\(json)")
            let messages = json["messages"] as? [[String: Any]] ?? []
            pages.append(messages.compactMap { $0["sequence"] as? Int })
            // Every page says what the whole conversation is: its title, last model and length.
            #expect(json["title"] as? String == "q1")
            #expect(json["model"] as? String == "m\(messages.isEmpty ? 0 : (json["message_count"] as? Int ?? 0) / 2)")
            cursor = json["next_cursor"] as? String
            #expect(cursor != nil || json["next_cursor"] is NSNull)
        } while cursor != nil && pages.count < 1_000
        return pages
    }
}

@Suite struct ConversationsHandlerTests {
    @Test func cursorsRoundTripAndForgeriesAreRefused() throws {
        for id in ["a", "0f8fad5b-d9cb-469f-a165-70867728950e", "x_y-z"] {
            let conversation = Conversation(id: id, owner: "t", createdAt: Date(timeIntervalSince1970: 1_795_700_000.123), updatedAt: Date())
            let cursor = try ConversationsHandler.cursor(from: ConversationsHandler.token(for: conversation))
            #expect(cursor.id == id)
            #expect(Int64((cursor.createdAt.timeIntervalSince1970 * 1000).rounded()) == 1_795_700_000_123)
        }
        for forged in ["", "!!!!", Base64URL.encode(Array("12.../etc".utf8)), Base64URL.encode(Array("-5.a".utf8)), "A"] {
            #expect(throws: HTTPError.self, "\(forged)") { try ConversationsHandler.cursor(from: forged) }
        }
        for length in 0..<10 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 250) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
    }

    /// A cursor decoding to a time past year 9999 is refused, not converted with a trapping cast.
    @Test func cursorsAtExtremeTimesAreRefused() throws {
        for milliseconds in ["9223372036854775807", "253402300800000", "99999999999999999999", "-9223372036854775808"] {
            let forged = Base64URL.encode(Array("\(milliseconds).a".utf8))
            #expect(throws: HTTPError.self, "\(milliseconds)") { try ConversationsHandler.cursor(from: forged) }
        }
        let latest = try ConversationsHandler.cursor(from: Base64URL.encode(Array("253402300799999.a".utf8)))
        #expect(latest.createdAt.milliseconds == 253_402_300_799_999)
        let far = Conversation(id: "a", owner: "t", createdAt: Date(timeIntervalSince1970: 1e300), updatedAt: Date())
        #expect(try ConversationsHandler.cursor(from: ConversationsHandler.token(for: far)).createdAt == Date.latestStored)
    }

    @Test func datesOutsideWhatAStoreKeepsAreClampedNotTrapped() {
        #expect(Date(timeIntervalSince1970: 9.3e15).milliseconds == 253_402_300_799_999)
        #expect(Date(timeIntervalSince1970: .infinity).milliseconds == 253_402_300_799_999)
        #expect(Date(timeIntervalSince1970: -.infinity).milliseconds == -62_135_596_800_000)
        #expect(Date(timeIntervalSince1970: .nan).milliseconds == -62_135_596_800_000)
        #expect(Date(timeIntervalSince1970: 1.5).milliseconds == 1_500)
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1e300)) == "9999-12-31T23:59:59Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: -1e300)) == "0001-01-01T00:00:00Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: .nan)) == "1970-01-01T00:00:00Z")
        #expect(RFC3339.format(seconds: Int.max, milliseconds: -5) == "9999-12-31T23:59:59.000Z")
    }

    @Test func titlesComeFromTheFirstLineCutOnWholeCharacters() {
        #expect(ConversationsHandler.title(nil) == .null)
        #expect(ConversationsHandler.title("  \n ") == .null)
        #expect(ConversationsHandler.title("Hello\nworld") == .string("Hello"))
        #expect(ConversationsHandler.title("a  b\tc") == .string("a b c"))
        let long = String(repeating: "👩‍👩‍👧", count: 70)
        guard case .string(let title) = ConversationsHandler.title(long) else { Issue.record("no title"); return }
        #expect(title.count == 60)
        #expect(title.hasSuffix("…"))
        #expect(title.dropLast().allSatisfy { $0 == "👩‍👩‍👧" })
        #expect(ConversationsHandler.title("\n \n  Real title\nmore") == .string("Real title"), "blank lines are skipped")
    }

    /// A character may carry any number of combining marks: a title stays small all the same.
    @Test func aTitleIsBoundedInCodePointsToo() throws {
        let marked = String(repeating: "a" + String(repeating: "\u{0301}", count: 50), count: 30)
        guard case .string(let title) = ConversationsHandler.title(marked) else { Issue.record("no title"); return }
        #expect(title.unicodeScalars.count <= ConversationsHandler.titleScalarLimit)
        #expect(title.hasSuffix("…"))
        #expect(title.count == 10, "nine marked letters fit in 480 code points")
        #expect(title.dropLast().allSatisfy { $0.unicodeScalars.count == 51 }, "whole characters only")
    }

    // MARK: A conversation's messages, a page at a time

    @Test func aConversationIsReadNewestPageFirstWithCursorsToOlderOnes() throws {
        let fixture = try ConversationFixture(turns: 125)
        let pages = try fixture.pages(limit: 100)
        #expect(pages.map(\.count) == [100, 100, 50])
        #expect(pages[0] == Array(151...250) && pages[1] == Array(51...150) && pages[2] == Array(1...50))
        #expect(try fixture.pages(limit: nil).map(\.count) == [100, 100, 50], "100 by default")
        #expect(try fixture.pages(limit: 500) == [Array(1...250)])
        #expect(try fixture.pages(limit: 1).count == 250)
        let (_, first) = fixture.request(query: "limit=2")
        let messages = try #require(first["messages"] as? [[String: Any]])
        #expect(messages.map { $0["content"] as? String } == ["q125", "a125"])
        #expect(messages.map { $0["role"] as? String } == ["user", "assistant"])
        #expect(first["message_count"] as? Int == 250)
    }

    @Test func aPatchAnswersWithTheFirstPage() throws {
        let fixture = try ConversationFixture(turns: 60)
        let (status, json) = fixture.request("PATCH", query: "limit=3", body: #"{"title": "Renamed"}"#)
        #expect(status == 200)
        #expect(json["title"] as? String == "Renamed")
        #expect((json["messages"] as? [[String: Any]])?.compactMap { $0["sequence"] as? Int } == Array(21...120))
        #expect(json["next_cursor"] is String)
    }

    @Test func aBadLimitOrCursorIsA400NeverATrap() throws {
        let fixture = try ConversationFixture(turns: 3)
        for limit in ["0", "501", "-1", "x", "1e2", "", "9223372036854775808"] {
            let (status, json) = fixture.request(query: "limit=\(limit)")
            #expect(status == 400, "\(limit)")
            #expect(json["error"] as? String == "limit must be a whole number from 1 to 500", "\(limit)")
        }
        let forged = [
            "", "!!!", "A", String(repeating: "A", count: 300), Base64URL.encode(Array("c-1".utf8)),
            Base64URL.encode(Array("1.c-1".utf8)), Base64URL.encode(Array("0.c-1".utf8)), Base64URL.encode(Array("-5.c-1".utf8)),
            Base64URL.encode(Array("+5.c-1".utf8)), Base64URL.encode(Array("2147483648.c-1".utf8)),
            Base64URL.encode(Array("9223372036854775807.c-1".utf8)), Base64URL.encode(Array("99999999999999999999.c-1".utf8)),
            Base64URL.encode(Array("5.c-2".utf8)), Base64URL.encode(Array("5.".utf8)), Base64URL.encode([0xFF, 0x2E, 0x35]),
        ]
        for cursor in forged {
            let (status, json) = fixture.request(query: "cursor=\(cursor)")
            #expect(status == 400, "\(cursor)")
            #expect(json["error"] as? String == "cursor is malformed: pass the next_cursor of the page before", "\(cursor)")
        }
        // The largest cursor there can be, and one past the last message, read the newest page.
        for sequence in [2_147_483_647, 7] {
            let (status, json) = fixture.request(query: "cursor=\(Base64URL.encode(Array("\(sequence).c-1".utf8)))")
            #expect(status == 200)
            #expect((json["messages"] as? [[String: Any]])?.count == 6)
        }
    }

    /// A page holds at most `messagePageBytes` of text, so that long messages make shorter pages
    /// rather than a body of any size; a message longer than that comes alone.
    @Test func aPageEndsBeforeItsTextOutgrowsTheBudget() {
        let budget = ConversationsHandler.messagePageBytes
        let message = { (sequence: Int, bytes: Int) in
            StoredMessage(sequence: sequence, role: .user, content: String(repeating: "x", count: bytes), createdAt: Date())
        }
        let third = budget / 3
        let messages = (1...5).map { message($0, third) }
        let page = { (messages: [StoredMessage], limit: Int) in StoredMessage.newest(of: messages[...], limit: limit, maxBytes: budget) }
        #expect(page(messages, 100).map(\.sequence) == [3, 4, 5])
        #expect(page(messages, 2).map(\.sequence) == [4, 5])
        #expect(page([message(1, 10), message(2, budget + 1)], 100).map(\.sequence) == [2])
        #expect(page([], 100).isEmpty)
    }

    /// The history read for the model holds all the trim can keep, and stops at an overflow-free bound.
    @Test func theHistoryReadIsBoundedButHoldsAllTheTrimKeeps() {
        #expect(ChatHistory.maxBytes(AskSettings(maxHistoryMessages: 50, maxHistoryCharacters: 100_000)) == 400_000 + 40_000)
        #expect(ChatHistory.maxBytes(AskSettings(maxHistoryMessages: .max, maxHistoryCharacters: .max)) == .max)
    }
}
