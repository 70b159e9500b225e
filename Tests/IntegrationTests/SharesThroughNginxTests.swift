import Foundation
import Testing

extension IntegrationTests {
    /// Share links through nginx: `POST /conversation/{id}/share`, `GET /shares`, `DELETE
    /// /share/{id}`, the public `GET /s/{id}` and the page at `/shared/{id}`.
    @Suite struct SharesThroughNginx {
        private func headers(_ token: String) -> [(String, String)] {
            [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
        }

        private func ask(_ stack: Stack, _ token: String, _ prompt: String) throws -> String {
            let response = try stack.client.request("POST", "/ask", headers: headers(token), body: Array(#"{"prompt":"\#(prompt)"}"#.utf8))
            #expect(response.status == 200)
            return try #require((try response.json()["response"] as? [String: Any])?["conversation_id"] as? String)
        }

        private func share(_ stack: Stack, _ token: String, _ conversation: String, body: String? = nil) throws -> String {
            let response = try stack.client.request("POST", "/conversation/\(conversation)/share", headers: headers(token), body: body.map { Array($0.utf8) })
            #expect(response.status == 201, "\(response.text)")
            return try #require(try response.json()["share_id"] as? String)
        }

        @Test func aShareIsPublicReadOnlyAndRevocableAndEachTokenSeesOnlyItsOwn() throws {
            let stack = try Stack()
            let alice = try stack.createToken(name: "alice")
            let bob = try stack.createToken(name: "bob")
            let conversation = try ask(stack, alice, "What is **shared**?")

            // A client's own X-Forwarded-* are replaced by what nginx knows.
            let created = try stack.client.request(
                "POST", "/conversation/\(conversation)/share", headers: headers(alice) + [("X-Forwarded-Proto", "https")],
                body: Array(#"{"expires_in":"7d"}"#.utf8)
            )
            #expect(created.status == 201, "\(created.text)")
            let body = try created.json()
            let id = try #require(body["share_id"] as? String)
            #expect(id.count >= 22)
            #expect(body["url"] as? String == "http://127.0.0.1/shared/\(id)")
            #expect(body["expires_at"] is String)

            // Anyone reads it, without a token; it shows no ids, token or settings.
            let read = try stack.client.get("/s/\(id)")
            #expect(read.status == 200)
            let shared = try read.json()
            #expect(Set(shared.keys) == ["title", "shared_at", "messages"])
            #expect(shared["title"] as? String == "What is **shared**?")
            #expect((shared["messages"] as? [[String: Any]])?.count == 2)
            #expect(!read.text.contains(conversation) && !read.text.contains(alice))
            #expect(read.header("cache-control") == "no-store")
            // A snapshot: a later turn is not in it.
            let later = try stack.client.request(
                "POST", "/ask", headers: headers(alice), body: Array(#"{"prompt":"later","conversation_id":"\#(conversation)"}"#.utf8)
            )
            #expect(later.status == 200)
            #expect((try stack.client.get("/s/\(id)").json()["messages"] as? [[String: Any]])?.count == 2)

            // Bob neither shares, lists nor revokes Alice's: each answer as for an unknown id.
            let foreignShare = try stack.client.request("POST", "/conversation/\(conversation)/share", headers: headers(bob))
            let unknownShare = try stack.client.request("POST", "/conversation/00000000-0000-7000-8000-000000000000/share", headers: headers(bob))
            #expect(foreignShare.status == 404 && unknownShare.status == 404)
            #expect(foreignShare.text == unknownShare.text)
            #expect((try stack.client.get("/shares", headers: headers(bob)).json()["shares"] as? [Any])?.isEmpty == true)
            let foreignRevoke = try stack.client.request("DELETE", "/share/\(id)", headers: headers(bob))
            let unknownRevoke = try stack.client.request("DELETE", "/share/AAAAAAAAAAAAAAAAAAAAAA", headers: headers(bob))
            #expect(foreignRevoke.status == 404 && unknownRevoke.status == 404)
            #expect(foreignRevoke.text == unknownRevoke.text)
            #expect(try stack.client.get("/s/\(id)").status == 200, "still there")

            let listed = try #require(try stack.client.get("/shares", headers: headers(alice)).json()["shares"] as? [[String: Any]])
            #expect(listed.compactMap { $0["share_id"] as? String } == [id])
            #expect(listed.first?["conversation_id"] as? String == conversation)
            #expect(try stack.client.get("/shares").status == 401)

            // Revoked at once; then the same 404 as an unknown share.
            #expect(try stack.client.request("DELETE", "/share/\(id)", headers: headers(alice)).status == 204)
            let gone = try stack.client.get("/s/\(id)")
            #expect(gone.status == 404)
            #expect(gone.text == (try stack.client.get("/s/AAAAAAAAAAAAAAAAAAAAAA").text))
        }

        @Test func deletingTheConversationOrAllOrRevokingTheTokenRevokesItsShares() throws {
            let stack = try Stack()
            let alice = try stack.createToken(name: "alice")
            let one = try ask(stack, alice, "one")
            let two = try ask(stack, alice, "two")
            let first = try share(stack, alice, one)
            let second = try share(stack, alice, two, body: #"{"expires_in":null}"#)
            #expect(try stack.client.request("DELETE", "/conversation/\(one)", headers: headers(alice)).status == 204)
            #expect(try stack.client.get("/s/\(first)").status == 404)
            #expect(try stack.client.get("/s/\(second)").status == 200)
            #expect(try stack.client.request("DELETE", "/conversations", headers: headers(alice)).status == 204)
            #expect(try stack.client.get("/s/\(second)").status == 404)

            let carol = try stack.createToken(name: "carol")
            let third = try share(stack, carol, try ask(stack, carol, "three"))
            #expect(try stack.client.get("/s/\(third)").status == 200)
            let revoked = try Stack.run(Stack.askdBinary, ["token", "revoke", "carol"], environment: ["ASKD_DATABASE": stack.databasePath])
            #expect(revoked.status == 0)
            #expect(try stack.client.get("/s/\(third)").status == 404)
        }

        @Test func thePageAtSharedIsServedAndTheReadsAreRateLimited() throws {
            let stack = try Stack()
            let alice = try stack.createToken(name: "alice")
            let id = try share(stack, alice, try ask(stack, alice, "hello"))
            let page = try stack.client.get("/shared/\(id)")
            #expect(page.status == 200)
            #expect(page.header("content-type")?.hasPrefix("text/html") == true)
            #expect(page.text.contains("/shared.js?v="))
            let script = try stack.client.get("/shared.js")
            #expect(script.status == 200)
            #expect(script.text.contains("/s/"))

            // One address reading shares without end is told to slow down, in JSON.
            let requests = (0..<120).map { _ in HTTPClient.requestBytes("GET", "/s/\(id)") }
            let answers = try Connection.allAtOnce(port: stack.port, requests)
            #expect(answers.first?.status == 200)
            let limited = try #require(answers.first { $0.status == 429 }, "\(answers.map(\.status))")
            #expect(try limited.json()["error"] as? String == "too many requests; slow down")
        }
    }
}
