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
