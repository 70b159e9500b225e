@testable import API
import Foundation
import HTTP
import Store
import Testing
import Upstream

@Suite struct StreamedAskTests {
    /// Runs a streamed ask through the application and its stream, as the transport would.
    private func stream(
        _ fixture: AskFixture, _ body: String, preparing prepare: (RecordingChannel) -> Void = { _ in }
    ) throws -> (Response, RecordingChannel, (any Error)?) {
        var request = Request(
            method: "POST", path: "/ask", headers: ["Authorization": "Bearer \(fixture.alice)", "Content-Type": "application/json"],
            body: Array(body.utf8)
        )
        let (response, channel) = fixture.application.respondAndWait(to: &request, preparing: prepare)
        let recorded = try #require(channel, "answered at once: \(response.status.code)")
        return (response, recorded, recorded.failure)
    }

    /// Whether the request was answered as Server-Sent Events.
    private func streams(_ fixture: AskFixture, _ request: Request) -> Bool {
        var request = request
        let (response, _) = fixture.application.respondAndWait(to: &request)
        return response.headers["Content-Type"] == "text/event-stream"
    }

    @Test func deltasThenTheWholeAnswerAndTheTurnIsStored() throws {
        let fixture = try AskFixture()
        let (response, writer, error) = try stream(fixture, #"{"prompt":"hi","stream":true}"#)
        #expect(error == nil)
        #expect(response.headers["Content-Type"] == "text/event-stream")
        #expect(response.headers["X-Accel-Buffering"] == "no")
        let events = writer.events
        #expect(events.filter { $0.0 == nil }.compactMap { $0.1["delta"] as? String } == ["answer", " ", "1"])
        let done = try #require(events.last)
        #expect(done.0 == "done")
        let answer = try #require(done.1["response"] as? [String: Any])
        #expect(answer["message"] as? String == "answer 1")
        let id = try #require(answer["conversation_id"] as? String)
        #expect(try fixture.store.messages(conversationID: id).map(\.content) == ["hi", "answer 1"])
    }

    @Test func theFormFieldAndTheAcceptHeaderTurnItOn() throws {
        let fixture = try AskFixture()
        let form = Request(
            method: "POST", path: "/ask", headers: ["Authorization": fixture.alice, "Content-Type": "application/x-www-form-urlencoded"],
            body: Array("prompt=hi&stream=true".utf8)
        )
        #expect(streams(fixture, form), "form stream=true streams")
        let accept = Request(
            method: "POST", path: "/ask", headers: ["Authorization": fixture.alice, "Accept": "text/event-stream"],
            body: Array(#"{"prompt":"hi"}"#.utf8)
        )
        #expect(streams(fixture, accept), "Accept streams")
        let off = Request(
            method: "POST", path: "/ask", headers: ["Authorization": fixture.alice, "Accept": "text/event-stream"],
            body: Array(#"{"prompt":"hi","stream":false}"#.utf8)
        )
        #expect(!streams(fixture, off), "stream:false does not stream")
    }

    /// `Accept` asks for a stream when it lists text/event-stream, unless with q=0 ("not
    /// acceptable"). Clients that list JSON too (for their errors) still get the stream.
    @Test(arguments: [
        ("text/event-stream", true),
        ("Text/Event-Stream; charset=utf-8", true),
        ("application/json, text/event-stream", true),
        ("text/event-stream;q=0.5, application/json", true),
        ("text/event-stream;q=0, application/json", false),
        ("text/event-stream; q=0.0", false),
        ("application/json", false),
        ("*/*", false),
        ("text/event-streamx", false),
    ])
    func acceptListsTheStream(accept: String, streams: Bool) {
        #expect(AskInput.acceptsEventStream(accept) == streams)
    }

    /// A form sends text, so its `stream`, `temperature` and `max_tokens` are read from text;
    /// a JSON body must send a boolean and numbers.
    @Test(arguments: [
        (#"{"prompt":"hi","stream":"true"}"#, "application/json", "stream must be a boolean, not a string"),
        (#"{"prompt":"hi","temperature":"1"}"#, "application/json", "temperature must be a number, not a string"),
        (#"{"prompt":"hi","max_tokens":"10"}"#, "application/json", "max_tokens must be a number, not a string"),
        ("prompt=hi&stream=yes", "application/x-www-form-urlencoded", "stream must be true or false"),
        ("prompt=hi&temperature=warm", "application/x-www-form-urlencoded", "temperature must be a number"),
        ("prompt=hi&max_tokens=nan", "application/x-www-form-urlencoded", "max_tokens must be a number"),
        ("prompt=hi&max_tokens=0", "application/x-www-form-urlencoded", "max_tokens must be from 1 to 4096"),
    ])
    func typesFollowTheBodysEncoding(body: String, contentType: String, message: String) throws {
        let fixture = try AskFixture()
        let (status, json, _) = fixture.ask(body, token: fixture.alice, contentType: contentType)
        #expect(status == 400)
        #expect(json["error"] as? String == message)
    }

    @Test func aFailureBeforeTheFirstPieceIsAnHTTPError() throws {
        let fixture = try AskFixture()
        fixture.upstream.failure = .rateLimited(retryAfter: "3")
        let (_, writer, error) = try stream(fixture, #"{"prompt":"hi","stream":true}"#)
        #expect(writer.events.isEmpty, "no event went out")
        #expect(writer.status == 429)
        let httpError = try #require((error as? any HTTPErrorConvertible)?.httpError)
        #expect(httpError.status == .tooManyRequests)
        #expect(httpError.headers["Retry-After"] == "3")
    }

    @Test func aFailureMidwayIsAnErrorEventAndNothingIsStored() throws {
        let fixture = try AskFixture()
        fixture.upstream.failure = .failed(detail: "broke")
        fixture.upstream.failAfterPieces = 2
        let (_, writer, error) = try stream(fixture, #"{"prompt":"hi","stream":true}"#)
        #expect(error == nil)
        let events = writer.events
        #expect(events.count == 3)
        #expect(events.last?.0 == "error")
        #expect(events.last?.1["error"] as? String == "the model could not answer")
        #expect(try fixture.store.allTokens().count == 2)
        #expect(fixture.store.conversationCount == 0)
    }

    @Test func aClientThatLeavesStopsTheAnswerAndNothingIsStored() throws {
        let fixture = try AskFixture()
        let (_, writer, error) = try stream(fixture, #"{"prompt":"hi","stream":true}"#) { $0.leaveAtWrite = 1 }
        #expect(error is ClientDisconnected)
        #expect(writer.chunks.count == 1)
        #expect(fixture.store.conversationCount == 0)
    }

    /// The model was paid for what it wrote before the client left: that usage counts in
    /// `/usage`, though the turn is not stored.
    @Test func aClientThatLeavesStillHasItsUsageCounted() throws {
        let fixture = try AskFixture(upstream: EchoProvider(wordDelayMilliseconds: 0))
        let (_, _, error) = try stream(fixture, #"{"prompt":"one two three four five six","stream":true}"#) { $0.leaveAtWrite = 2 }
        #expect(error is ClientDisconnected)
        #expect(fixture.store.conversationCount == 0)
        let usage = try fixture.store.usage(owner: "t-alice", day: Date().usageDay)
        #expect(usage.day.requests == 1)
        #expect(usage.day.promptTokens > 0)
        #expect(usage.day.completionTokens == 2, "the two words written before the client left")
    }

    /// askd is stopping and its drain time ran out: the answer ends with an error event (a 503
    /// to ask again), not `done`, so that the client can tell it from a complete one. It is
    /// not stored, but the model's work counts.
    @Test func anAnswerTheServerCannotWaitForEndsWithAnErrorEvent() throws {
        let fixture = try AskFixture(upstream: EchoProvider(wordDelayMilliseconds: 0))
        let (_, writer, error) = try stream(fixture, #"{"prompt":"one two three four five six","stream":true}"#) { $0.mustEndAfterWrites = 2 }
        #expect(error == nil)
        let events = writer.events
        #expect(events.count == 3)
        #expect(events.prefix(2).allSatisfy { $0.0 == nil && $0.1["delta"] != nil })
        let last = try #require(events.last)
        #expect(last.0 == "error")
        #expect(last.1["status"] as? Int == 503)
        #expect((last.1["error"] as? String)?.contains("restarting") == true)
        #expect(last.1["retry_after"] as? String == "5")
        #expect(fixture.store.conversationCount == 0)
        let usage = try fixture.store.usage(owner: "t-alice", day: Date().usageDay)
        #expect(usage.day.completionTokens == 2, "the two words written")

        // Before the first word, it is the answer's status.
        let (_, early, refused) = try stream(fixture, #"{"prompt":"hi","stream":true}"#) { $0.mustEndAfterWrites = 0 }
        #expect(early.events.isEmpty)
        #expect((refused as? HTTPError)?.status == .serviceUnavailable)
    }

    /// A conversation deleted while its answer streams stores no turn, but the answer's usage counts.
    @Test func anAnswerWhoseConversationWentAwayStillCounts() throws {
        let fixture = try AskFixture()
        let (_, first, _) = fixture.ask(#"{"prompt":"one"}"#, token: fixture.alice)
        let id = try #require((first["response"] as? [String: Any])?["conversation_id"] as? String)
        let store = fixture.store
        let (_, writer, _) = try stream(fixture, #"{"prompt":"two","stream":true,"conversation_id":"\#(id)"}"#) { channel in
            channel.onFirstWrite = { _ = try? store.deleteConversation(id: id, owner: "t-alice") }
        }
        #expect(writer.events.last?.0 == "error")
        let usage = try fixture.store.usage(owner: "t-alice", day: Date().usageDay)
        #expect(usage.day.requests == 2, "the first turn and the unstored second")
        #expect(usage.day.completionTokens == 4)
    }
}
