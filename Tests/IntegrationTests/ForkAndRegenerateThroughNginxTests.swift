import Foundation
import Testing

extension IntegrationTests {
    /// `POST /conversation/{id}/fork` and `POST /conversation/{id}/regenerate`, through nginx,
    /// against the local test upstream.
    @Suite struct ForkAndRegenerateThroughNginx {
        private func stack(_ upstream: FakeOpenAI) throws -> Stack {
            try Stack(environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-upstream",
                "ASKD_MODEL": "test-model", "ASKD_UPSTREAM_TIMEOUT_SECONDS": "10",
            ])
        }

        private func headers(_ token: String) -> [(String, String)] {
            [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
        }

        private func ask(_ stack: Stack, _ token: String, _ prompt: String, in conversation: String? = nil) throws -> String {
            var body: [String: String] = ["prompt": prompt]
            if let conversation { body["conversation_id"] = conversation }
            let response = try stack.client.request("POST", "/ask", headers: headers(token), body: Array(try JSONSerialization.data(withJSONObject: body)))
            #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
            return try #require((try response.json()["response"] as? [String: Any])?["conversation_id"] as? String)
        }

        private func post(_ stack: Stack, _ token: String, _ path: String, _ body: String = "") throws -> HTTPResponse {
            try stack.client.request("POST", path, headers: headers(token), body: Array(body.utf8))
        }

        private func read(_ stack: Stack, _ token: String, _ id: String) throws -> [String: Any] {
            let response = try stack.client.get("/conversation/\(id)", headers: headers(token))
            #expect(response.status == 200)
            return try response.json()
        }

        private func messages(_ conversation: [String: Any]) -> [[String: Any]] {
            conversation["messages"] as? [[String: Any]] ?? []
        }

        /// The upstream answers `prompt` with `answer` from now on.
        private func answer(_ upstream: FakeOpenAI, _ answers: [String: String]) throws {
            try JSONSerialization.data(withJSONObject: answers).write(to: URL(fileURLWithPath: upstream.requestsPath + ".answers"))
        }

        @Test func aPlainRegenerationReplacesTheLastAnswerAndKeepsTheOldOne() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let token = try stack.createToken(name: "app")
            let id = try ask(stack, token, "first")
            _ = try ask(stack, token, "second", in: id)
            let before = try read(stack, token, id)
            #expect(messages(before).map { $0["id"] as? Int ?? 0 } == [1, 2, 3, 4])
            #expect(messages(before).allSatisfy { ($0["previous_versions"] as? [Any])?.isEmpty == true })

            try answer(upstream, ["second": "a better answer"])
            let response = try post(stack, token, "/conversation/\(id)/regenerate", #"{"temperature":0.5,"max_tokens":50,"model":"test-model"}"#)
            #expect(response.status == 200)
            let answered = try #require(try response.json()["response"] as? [String: Any])
            #expect(answered["message"] as? String == "a better answer")
            #expect(answered["conversation_id"] as? String == id)

            // The model was asked the last prompt again, after the history before it, with the request's settings.
            let sent = try #require(try upstream.requests().last?.body)
            #expect((sent["messages"] as? [[String: String]])?.map { $0["content"] ?? "" } == ["first", "upstream heard: first", "second"])
            #expect(sent["temperature"] as? Double == 0.5)
            #expect(sent["max_tokens"] as? Int == 50)

            let after = try read(stack, token, id)
            #expect(after["message_count"] as? Int == 4)
            let last = try #require(messages(after).last)
            #expect(last["id"] as? Int == 4)
            #expect(last["content"] as? String == "a better answer")
            let versions = try #require(last["previous_versions"] as? [[String: Any]])
            #expect(versions.count == 1)
            let old = messages(before)[3]
            #expect(versions.first?["content"] as? String == "upstream heard: second")
            #expect(versions.first?["created_at"] as? String == old["created_at"] as? String)
            #expect(versions.first?["model"] as? String == "test-model")
            #expect((versions.first?["usage"] as? [String: Any])?["total_tokens"] as? Int == (old["usage"] as? [String: Any])?["total_tokens"] as? Int)
            // The earlier messages are untouched.
            #expect(NSArray(array: Array(messages(after).prefix(3))) == NSArray(array: Array(messages(before).prefix(3))))

            // Again: the versions pile up, oldest first. Each regeneration counts as a request.
            try answer(upstream, ["second": "the best answer"])
            #expect(try post(stack, token, "/conversation/\(id)/regenerate").status == 200)
            let third = try read(stack, token, id)
            #expect((messages(third).last?["previous_versions"] as? [[String: Any]])?.map { $0["content"] as? String ?? "" } == [
                "upstream heard: second", "a better answer",
            ])
            let usage = try #require(try stack.client.get("/usage", headers: headers(token)).json()["today"] as? [String: Any])
            #expect(usage["requests"] as? Int == 4)

            // Form bodies and bad input.
            let form = try stack.client.request(
                "POST", "/conversation/\(id)/regenerate",
                headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/x-www-form-urlencoded")], body: Array("temperature=0.2".utf8)
            )
            #expect(form.status == 200)
            for bad in [#"{"prompt":"x"}"#, #"{"temperature":3}"#, #"{"max_tokens":1.5}"#, #"{"stream":"yes"}"#, #"{"model":"other"}"#, "[1]"] {
                let refused = try post(stack, token, "/conversation/\(id)/regenerate", bad)
                #expect(refused.status == 400, "\(bad)")
                #expect((try? refused.json()["error"] as? String)?.isEmpty == false, "\(bad)")
            }
            #expect(try stack.client.request("POST", "/conversation/\(id)/regenerate").status == 401)
        }

        @Test func aStreamedRegenerationSendsDeltasThenDoneAndIsStored() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let token = try stack.createToken(name: "app")
            let id = try ask(stack, token, "question")
            try answer(upstream, ["question": "streamed anew, in pieces"])
            let client = try EventStreamClient(port: stack.port, token: token, body: #"{"stream":true}"#, path: "/conversation/\(id)/regenerate")
            let head = try client.head()
            #expect(head.contains("200"))
            #expect(head.lowercased().contains("content-type: text/event-stream"))
            let events = try client.readAll()
            let deltas = events.filter { $0.event == nil }.compactMap { $0.json["delta"] as? String }
            #expect(deltas.count > 1)
            #expect(deltas.joined() == "streamed anew, in pieces")
            #expect(events.last?.event == "done")
            #expect((events.last?.json["response"] as? [String: Any])?["message"] as? String == "streamed anew, in pieces")
            let last = try #require(messages(try read(stack, token, id)).last)
            #expect(last["content"] as? String == "streamed anew, in pieces")
            #expect((last["previous_versions"] as? [[String: Any]])?.map { $0["content"] as? String ?? "" } == ["upstream heard: question"])
        }

        @Test func aModelThatFailsOrAClientThatLeavesChangesNothing() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let token = try stack.createToken(name: "app")
            let id = try ask(stack, token, "#once here")
            let before = try stack.client.get("/conversation/\(id)", headers: headers(token)).body

            // Plain: the model's 500 is askd's 502.
            let failed = try post(stack, token, "/conversation/\(id)/regenerate")
            #expect(failed.status == 502)
            #expect(try stack.client.get("/conversation/\(id)", headers: headers(token)).body == before)

            // Streamed: a delta, then the model breaks off: an error event, and nothing stored.
            let client = try EventStreamClient(port: stack.port, token: token, body: #"{"stream":true}"#, path: "/conversation/\(id)/regenerate")
            let events = try client.readAll()
            #expect(events.first?.json["delta"] as? String == "w0 ")
            #expect(events.last?.event == "error")
            #expect(try stack.client.get("/conversation/\(id)", headers: headers(token)).body == before)

            // A client that leaves before the answer is complete.
            let slow = try ask(stack, token, "#drip 30 100")
            let slowBefore = try stack.client.get("/conversation/\(slow)", headers: headers(token)).body
            let leaving = try EventStreamClient(port: stack.port, token: token, body: #"{"stream":true}"#, path: "/conversation/\(slow)/regenerate")
            _ = try #require(try leaving.next())
            leaving.close()
            try waitUntil("the upstream sees the stream closed", seconds: 5) { upstream.closedStreams()["#drip 30 100"] != nil }
            // The lock is free again, and nothing changed.
            try answer(upstream, ["#drip 30 100": "at last"])
            #expect(try stack.client.get("/conversation/\(slow)", headers: headers(token)).body == slowBefore)
            #expect(try post(stack, token, "/conversation/\(slow)/regenerate").status == 200)
            #expect(messages(try read(stack, token, slow)).last?["content"] as? String == "at last")
        }

        @Test func aConversationWithoutALastAnswerHasNothingToRegenerate() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let token = try stack.createToken(name: "app")
            let id = try ask(stack, token, "question")
            let script = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"DELETE FROM messages WHERE seq = 2\"); c.commit()"
            _ = try Stack.run("/usr/bin/python3", ["-c", script, stack.databasePath])
            let refused = try post(stack, token, "/conversation/\(id)/regenerate")
            #expect(refused.status == 409)
            #expect(try refused.json()["error"] as? String == "there is no answer to regenerate: the conversation's last message is not an answer to a prompt")
            #expect(try upstream.requests().count == 1, "the model was not asked")
        }

        @Test func aForkCopiesTheMessagesThroughOneAndTheOriginalStays() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let token = try stack.createToken(name: "app")
            let id = try ask(stack, token, "first")
            _ = try ask(stack, token, "second", in: id)
            try answer(upstream, ["second": "second, regenerated"])
            #expect(try post(stack, token, "/conversation/\(id)/regenerate").status == 200)
            _ = try ask(stack, token, "third", in: id)
            let original = try read(stack, token, id)

            let response = try post(stack, token, "/conversation/\(id)/fork", #"{"message_id":4}"#)
            #expect(response.status == 201)
            let fork = try response.json()
            let forkID = try #require(fork["id"] as? String)
            #expect(forkID != id)
            #expect(fork["title"] as? String == "first (fork)")
            #expect(fork["message_count"] as? Int == 4)
            #expect(NSArray(array: messages(fork)) == NSArray(array: Array(messages(original).prefix(4))), "copies, dates and versions included")
            #expect(NSDictionary(dictionary: try read(stack, token, forkID)) == NSDictionary(dictionary: fork))
            #expect(NSDictionary(dictionary: try read(stack, token, id)) == NSDictionary(dictionary: original))
            let listed = try #require(try stack.client.get("/conversations", headers: headers(token)).json()["conversations"] as? [[String: Any]])
            #expect(listed.first?["id"] as? String == forkID, "the newest conversation")

            // Editing the second prompt: a fork just before it, with a title, then /ask.
            let edited = try post(stack, token, "/conversation/\(id)/fork", #"{"message_id":2,"title":"Another way"}"#)
            #expect(edited.status == 201)
            let editedID = try #require(try edited.json()["id"] as? String)
            #expect(try edited.json()["title"] as? String == "Another way")
            _ = try ask(stack, token, "second, edited", in: editedID)
            let sent = try #require(try upstream.requests().last?.body["messages"] as? [[String: String]])
            #expect(sent.map { $0["content"] ?? "" } == ["first", "upstream heard: first", "second, edited"])
            #expect(messages(try read(stack, token, editedID)).map { $0["id"] as? Int ?? 0 } == [1, 2, 3, 4])
            #expect(try read(stack, token, id)["message_count"] as? Int == 6)

            let unknownMessage = try post(stack, token, "/conversation/\(id)/fork", #"{"message_id":7}"#)
            #expect(unknownMessage.status == 404)
            #expect(try unknownMessage.json()["error"] as? String == "message 7 not found in this conversation")
            for bad in ["", "{}", #"{"message_id":0}"#, #"{"message_id":"x"}"#, #"{"message_id":1.5}"#, #"{"message_id":1,"color":"red"}"#,
                #"{"message_id":1,"title":7}"#] {
                let refused = try post(stack, token, "/conversation/\(id)/fork", bad)
                #expect(refused.status == 400, "\(bad)")
                #expect((try? refused.json()["error"] as? String)?.isEmpty == false, "\(bad)")
            }
            #expect(try stack.count("SELECT COUNT(*) FROM conversations") == 3)
        }

        /// Another token's conversation is answered exactly as one that does not exist, on both endpoints.
        @Test func aForeignConversationIsIndistinguishableFromAnUnknownOne() throws {
            let upstream = try FakeOpenAI()
            let stack = try stack(upstream)
            let alice = try stack.createToken(name: "alice")
            let bob = try stack.createToken(name: "bob")
            let id = try ask(stack, alice, "alice's question")
            let before = try stack.client.get("/conversation/\(id)", headers: headers(alice)).body
            let unknown = "0190b7c4-0000-7000-8000-000000000000"
            for (path, body) in [("fork", #"{"message_id":1}"#), ("regenerate", ""), ("regenerate", #"{"stream":true}"#)] {
                let foreign = try post(stack, bob, "/conversation/\(id)/\(path)", body)
                let missing = try post(stack, bob, "/conversation/\(unknown)/\(path)", body)
                #expect(foreign.status == 404, "\(path) \(body)")
                #expect(foreign.status == missing.status)
                #expect(foreign.body == missing.body)
                #expect(try foreign.json()["error"] as? String == "conversation not found")
            }
            #expect(try stack.client.get("/conversation/\(id)", headers: headers(alice)).body == before)
            #expect(try stack.count("SELECT COUNT(*) FROM conversations") == 1)
            #expect(try upstream.requests().count == 1, "bob's requests never reached the model")
            // Alice's own requests work.
            #expect(try post(stack, alice, "/conversation/\(id)/fork", #"{"message_id":1}"#).status == 201)
            #expect(try post(stack, alice, "/conversation/\(id)/regenerate").status == 200)
        }
    }
}
