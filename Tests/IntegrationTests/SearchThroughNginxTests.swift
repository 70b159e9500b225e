import Foundation
import Testing

extension IntegrationTests {
    /// `GET /search` through nginx, on SQLite and PostgreSQL: each token finds its own
    /// conversations only, a deleted conversation vanishes at once, and bad queries are 400s.
    @Suite struct SearchThroughNginx {
        private func headers(_ token: String) -> [(String, String)] {
            [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
        }

        private func ask(_ stack: Stack, _ token: String, _ prompt: String) throws -> String {
            let response = try stack.client.request("POST", "/ask", headers: headers(token), body: Array(#"{"prompt":"\#(prompt)"}"#.utf8))
            #expect(response.status == 200)
            return try #require((try response.json()["response"] as? [String: Any])?["conversation_id"] as? String)
        }

        private func search(_ stack: Stack, _ token: String, _ query: String) throws -> (status: Int, json: [String: Any]) {
            let response = try stack.client.get("/search?\(query)", headers: headers(token))
            #expect(response.header("content-type")?.hasPrefix("application/json") == true)
            return (response.status, try response.json())
        }

        private func conversations(_ json: [String: Any]) -> Set<String> {
            Set((json["results"] as? [[String: Any]] ?? []).compactMap { $0["conversation_id"] as? String })
        }

        @Test(arguments: ["sqlite", "postgres"])
        func eachTokenFindsItsOwnConversationsOnly(store: String) throws {
            let environment = store == "postgres" ? ["ASKD_DATABASE": try PostgresCluster.shared.createDatabase()] : [:]
            let stack = try Stack(environment: environment)
            let alice = try stack.createToken(name: "alice")
            let bob = try stack.createToken(name: "bob")
            let alices = [try ask(stack, alice, "the aardvark question"), try ask(stack, alice, "aardvark habitat and diet")]
            let bobs = try ask(stack, bob, "aardvark secrets of bob")

            let found = try search(stack, alice, "q=aardvark")
            #expect(found.status == 200)
            #expect(conversations(found.json) == Set(alices))
            let hit = try #require((found.json["results"] as? [[String: Any]])?.first { $0["message_id"] as? Int == 1 })
            #expect((hit["snippet"] as? String)?.contains("[aardvark]") == true)
            #expect(hit["role"] as? String == "user")
            #expect(conversations(try search(stack, bob, "q=aardvark").json) == [bobs])
            #expect(conversations(try search(stack, alice, "q=secrets").json).isEmpty, "bob's words are not alice's")
            #expect(conversations(try search(stack, alice, "q=%22aardvark+habitat%22").json) == [alices[1]])
            #expect(conversations(try search(stack, alice, "q=aardv*").json) == Set(alices))

            // Deleted: gone from the results at once. Another token's id cannot be deleted.
            #expect(try stack.client.request("DELETE", "/conversation/\(bobs)", headers: headers(alice)).status == 404)
            #expect(try stack.client.request("DELETE", "/conversation/\(alices[0])", headers: headers(alice)).status == 204)
            #expect(conversations(try search(stack, alice, "q=aardvark").json) == [alices[1]])
            #expect(conversations(try search(stack, bob, "q=aardvark").json) == [bobs])

            // A page, its cursor, and bad input.
            let page = try search(stack, alice, "q=aardvark&limit=1")
            #expect((page.json["results"] as? [Any])?.count == 1)
            let next = try #require(page.json["next_cursor"] as? String)
            #expect(try search(stack, alice, "q=aardvark&limit=1&cursor=\(next)").status == 200)
            for query in ["q=", "q=%22open", "q=ab*", "q=x&cursor=forged", "q=x&limit=500", "q=%28%29%3A-"] {
                let refused = try search(stack, alice, query)
                #expect(refused.status == 400, "\(query)")
                #expect(refused.json["error"] is String, "\(query)")
            }
            #expect(try stack.client.get("/search?q=aardvark").status == 401)
        }
    }
}
