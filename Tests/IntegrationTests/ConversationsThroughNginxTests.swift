import Foundation
import Testing

extension IntegrationTests {
    /// `GET /conversations`, `GET /conversation/{id}` and `DELETE /conversations`, through nginx.
    @Suite struct ConversationsThroughNginx {
        private func headers(_ token: String) -> [(String, String)] {
            [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
        }

        private func ask(_ stack: Stack, _ token: String, _ prompt: String, in conversation: String? = nil) throws -> String {
            let id = conversation.map { #","conversation_id":"\#($0)""# } ?? ""
            let response = try stack.client.request("POST", "/ask", headers: headers(token), body: Array(#"{"prompt":"\#(prompt)"\#(id)}"#.utf8))
            #expect(response.status == 200)
            return try #require((try response.json()["response"] as? [String: Any])?["conversation_id"] as? String)
        }

        @Test func pagesStayStableWhileConversationsArriveConcurrently() throws {
            let stack = try Stack()
            let token = try stack.createToken(name: "app")
            var before: [String] = []
            for index in 0..<24 { before.append(try ask(stack, token, "before \(index)")) }
            // The order to expect: newest first, and by id within one millisecond.
            let quiet = try stack.client.get("/conversations?limit=100", headers: headers(token)).json()
            let expected = (quiet["conversations"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(Set(expected) == Set(before))

            // Another client keeps starting conversations while this one pages through.
            let port = stack.port
            let requestHeaders = headers(token)
            let stop = Shared(false)
            let writer = Thread {
                let client = HTTPClient(port: port)
                while !stop.value {
                    _ = try? client.request("POST", "/ask", headers: requestHeaders, body: Array(#"{"prompt":"meanwhile"}"#.utf8))
                }
            }
            writer.start()
            defer { stop.value = true }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try stack.client.get("/conversations?limit=5" + (cursor.map { "&cursor=\($0)" } ?? ""), headers: headers(token))
                #expect(page.status == 200)
                let json = try page.json()
                seen += (json["conversations"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                cursor = json["next_cursor"] as? String
                usleep(20_000)
            } while cursor != nil
            stop.value = true
            let pagedBefore = seen.filter(Set(before).contains)
            #expect(Set(seen).count == seen.count, "no conversation twice")
            #expect(pagedBefore == expected, "every earlier conversation, in order, none skipped")
            #expect(try stack.count("SELECT COUNT(*) FROM conversations") > 24, "the writer did start conversations meanwhile")
        }

        /// 250 messages read 100 at a time: the newest page first, each page in order, the
        /// cursors chained to the first message; forged cursors and limits are 400s.
        @Test func aLongConversationIsReadAPageAtATime() throws {
            let stack = try Stack()
            let token = try stack.createToken(name: "pager")
            let id = try ask(stack, token, "turn 1")
            for index in 2...125 { _ = try ask(stack, token, "turn \(index)", in: id) }
            let other = try ask(stack, token, "another conversation")

            var pages: [[[String: Any]]] = []
            var cursors: [String] = []
            var cursor: String?
            repeat {
                let response = try stack.client.get("/conversation/\(id)?limit=100" + (cursor.map { "&cursor=\($0)" } ?? ""), headers: headers(token))
                #expect(response.status == 200)
                let json = try response.json()
                pages.append(try #require(json["messages"] as? [[String: Any]]))
                #expect(json["message_count"] as? Int == 250)
                #expect(json["title"] as? String == "turn 1", "the first prompt names the conversation on every page")
                cursor = json["next_cursor"] as? String
                if let cursor { cursors.append(cursor) } else { #expect(json["next_cursor"] is NSNull) }
            } while cursor != nil && pages.count < 10
            #expect(pages.map(\.count) == [100, 100, 50])
            let sequences = pages.map { $0.compactMap { $0["sequence"] as? Int } }
            #expect(sequences == [Array(151...250), Array(51...150), Array(1...50)])
            let messages = pages.reversed().flatMap { $0 }
            #expect(messages.map { $0["role"] as? String ?? "" } == (1...250).map { $0 % 2 == 1 ? "user" : "assistant" })
            #expect(messages.enumerated().allSatisfy { index, message in index % 2 == 1 || message["content"] as? String == "turn \(index / 2 + 1)" })
            #expect(Set(cursors).count == 2)

            // The default page, and PATCH, answer with the newest 100.
            let first = try stack.client.get("/conversation/\(id)", headers: headers(token)).json()
            #expect((first["messages"] as? [[String: Any]])?.first?["sequence"] as? Int == 151)
            let patched = try stack.client.request("PATCH", "/conversation/\(id)", headers: headers(token), body: Array(#"{"title":"Long"}"#.utf8))
            #expect(patched.status == 200)
            let patchedJSON = try patched.json()
            #expect(patchedJSON["title"] as? String == "Long")
            #expect((patchedJSON["messages"] as? [[String: Any]])?.compactMap { $0["sequence"] as? Int } == Array(151...250))
            #expect(patchedJSON["next_cursor"] as? String == cursors.first)

            let encode = { (text: String) in
                Data(text.utf8).base64EncodedString().replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
            }
            let forged = [
                "%%%", "AAAA", String(repeating: "A", count: 400), encode("1.\(id)"), encode("0.\(id)"), encode("-1.\(id)"),
                encode("2147483648.\(id)"), encode("9223372036854775807.\(id)"), encode("99999999999999999999999.\(id)"),
                encode("151.\(other)"), encode("151"), encode("151.\(id)x"),
            ]
            for bad in forged.map({ "cursor=\($0)" }) + ["limit=0", "limit=501", "limit=x", "limit=-1", "limit=1e3"] {
                let response = try stack.client.get("/conversation/\(id)?\(bad)", headers: headers(token))
                #expect(response.status == 400, "\(bad)")
                #expect((try? response.json()["error"] as? String)?.isEmpty == false, "\(bad)")
            }
            // Another conversation's cursor is refused there, and accepted where it belongs.
            #expect(try stack.client.get("/conversation/\(other)?cursor=\(cursors[0])", headers: headers(token)).status == 400)
            #expect(try stack.client.get("/conversation/\(id)?cursor=\(cursors[0])&limit=500", headers: headers(token)).json()["next_cursor"] is NSNull)
        }

        @Test func listReadAndDeleteAllStayWithTheirOwner() throws {
            let stack = try Stack()
            let alice = try stack.createToken(name: "alice")
            let bob = try stack.createToken(name: "bob")
            var ids: [String] = []
            for index in 0..<5 {
                ids.append(try ask(stack, alice, "question \(index) " + String(repeating: "é", count: 70)))
                usleep(2_000)
            }
            _ = try ask(stack, alice, "follow-up", in: ids[0])
            let bobs = try ask(stack, bob, "bob's question")

            // Pages of two, newest first, with a conversation started between the pages.
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let query = "/conversations?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try stack.client.get(query, headers: headers(alice))
                #expect(page.status == 200)
                let json = try page.json()
                let items = try #require(json["conversations"] as? [[String: Any]])
                seen += items.compactMap { $0["id"] as? String }
                cursor = json["next_cursor"] as? String
                pages += 1
                if pages == 1 { _ = try ask(stack, alice, "a late one") }
            } while cursor != nil && pages < 10
            #expect(seen == Array(ids.reversed()), "no duplicate, no gap, nothing of Bob's")

            let first = try #require(try stack.client.get("/conversations?limit=100", headers: headers(alice)).json()["conversations"] as? [[String: Any]])
            let oldest = try #require(first.last)
            #expect(oldest["message_count"] as? Int == 4)
            #expect(oldest["model"] as? String == "echo")
            let title = try #require(oldest["title"] as? String)
            #expect(title.count == 60 && title.hasSuffix("…") && title.hasPrefix("question 0 é"))
            #expect((oldest["created_at"] as? String)?.hasSuffix("Z") == true)

            let read = try stack.client.get("/conversation/\(ids[0])", headers: headers(alice))
            #expect(read.status == 200)
            let messages = try #require(try read.json()["messages"] as? [[String: Any]])
            #expect(messages.map { $0["role"] as? String ?? "" } == ["user", "assistant", "user", "assistant"])
            #expect(messages[2]["content"] as? String == "follow-up")
            #expect((messages[1]["usage"] as? [String: Any])?["total_tokens"] is Int)

            // Bob sees none of it, exactly as if it did not exist.
            let foreign = try stack.client.get("/conversation/\(ids[0])", headers: headers(bob))
            #expect(foreign.status == 404)
            #expect(try foreign.json()["error"] as? String == "conversation not found")
            #expect(try stack.client.get("/conversation/no-such-id", headers: headers(bob)).status == 404)
            for bad in ["limit=0", "limit=101", "limit=x", "cursor=%%%", "cursor=bm90LWEtY3Vyc29y"] {
                let response = try stack.client.get("/conversations?\(bad)", headers: headers(alice))
                #expect(response.status == 400, "\(bad)")
            }
            #expect(try stack.client.get("/conversations").status == 401)

            // Alice deletes all of hers; Bob's stays.
            #expect(try stack.client.request("DELETE", "/conversations", headers: headers(alice)).status == 204)
            let empty = try stack.client.get("/conversations", headers: headers(alice)).json()
            #expect((empty["conversations"] as? [Any])?.isEmpty == true)
            #expect(empty["next_cursor"] is NSNull)
            #expect(try stack.count("SELECT COUNT(*) FROM messages") == 2)
            #expect(try stack.client.get("/conversation/\(bobs)", headers: headers(bob)).status == 200)
        }
    }
}

/// A flag shared with a background thread.
final class Shared<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
