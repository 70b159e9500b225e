@testable import API
import Foundation
import HTTP
import Store
import Testing
import Upstream

/// A model that answers in the background, as the OpenAI client does: `ask` returns at once,
/// and the test decides when each answer arrives, with `answerNext`.
final class BackgroundUpstream: ChatCompletions, @unchecked Sendable {
    let inner = FakeUpstream()
    private let lock = NSLock()
    private var waiting: [(ChatRequest, @Sendable (Result<ChatResponse, any Error>) -> Void)] = []

    var defaultModel: String { inner.defaultModel }
    var waitingCount: Int { lock.withLock { waiting.count } }

    func ask(
        _ request: ChatRequest, streamingTo sink: (any ChatStreamSink)?,
        then completion: @escaping @Sendable (Result<ChatResponse, any Error>) -> Void
    ) {
        lock.withLock { waiting.append((request, completion)) }
    }

    /// Not used by the /ask tests.
    func forward(
        _ request: ForwardedRequest, streamingTo sink: (any CompletionChunkSink)?,
        then completion: @escaping @Sendable (Result<ForwardedAnswer, any Error>) -> Void
    ) {
        completion(.failure(UpstreamError.failed(detail: "forward is not used here")))
    }

    /// Answers the oldest waiting request, from another thread, as the inner fake would.
    func answerNext() {
        let (request, completion) = lock.withLock { waiting.removeFirst() }
        let thread = Thread { completion(Result { try self.inner.complete(request) }) }
        thread.start()
    }
}

/// An answer sent later, caught: the test waits for its end.
final class Resumption: @unchecked Sendable {
    let channel: RecordingChannel

    init(_ response: Response, application: Application, request: Request) throws {
        guard case .later(let start) = response.body else { throw DeferredTestError.notDeferred }
        channel = RecordingChannel(application: application, request: request)
        start(channel)
    }

    func finished() throws -> (Int, [String: Any], RecordingChannel) {
        channel.waitForEnd()
        return (channel.status, channel.json, channel)
    }
}

enum DeferredTestError: Error {
    case notDeferred
}

/// An /ask answers later: the worker is free while the model works.
@Suite struct DeferredAskTests {
    let upstream = BackgroundUpstream()

    private func request(_ body: String, for fixture: AskFixture) -> Request {
        Request(
            method: "POST", path: "/ask",
            headers: ["Authorization": "Bearer \(fixture.alice)", "Content-Type": "application/json"], body: Array(body.utf8)
        )
    }

    /// A conversation with one turn, answered and stored: its id.
    private func conversation(on fixture: AskFixture) throws -> String {
        let (first, firstRequest) = try start(#"{"prompt":"hello"}"#, on: fixture)
        upstream.answerNext()
        _ = firstRequest
        let json = try first.finished().1
        return try #require((json["response"] as? [String: Any])?["conversation_id"] as? String)
    }

    /// Starts an ask: the handler answers with a deferred response, whose wait has begun.
    private func start(_ body: String, on fixture: AskFixture) throws -> (Resumption, Request) {
        var incoming = request(body, for: fixture)
        let response = fixture.application.respond(to: &incoming)
        return (try Resumption(response, application: fixture.application, request: incoming), incoming)
    }

    @Test func aPlainAskIsDeferredAndStoredWhenTheAnswerArrives() throws {
        let fixture = try AskFixture(upstream: upstream)
        let (resumption, incoming) = try start(#"{"prompt":"hello"}"#, on: fixture)
        #expect(upstream.waitingCount == 1)
        #expect(try fixture.store.allConversations().isEmpty, "nothing is stored before the model answered")
        upstream.answerNext()
        let (status, json, response) = try resumption.finished()
        #expect(status == 200)
        #expect(response.headers["X-Request-Id"] == incoming.id)
        let answer = try #require(json["response"] as? [String: Any])
        #expect(answer["message"] as? String == "answer 1")
        let id = try #require(answer["conversation_id"] as? String)
        #expect(try fixture.store.messages(conversationID: id).map(\.content) == ["hello", "answer 1"])
    }

    @Test func aFailedAnswerMapsToItsStatusStoresNothingAndReleasesTheTurnLock() throws {
        let fixture = try AskFixture(upstream: upstream)
        let id = try conversation(on: fixture)

        upstream.inner.failure = .rateLimited(retryAfter: "9")
        let (failing, failingRequest) = try start(#"{"prompt":"again","conversation_id":"\#(id)"}"#, on: fixture)
        // While the model works, the turn lock is held: no other turn can start.
        #expect(throws: StoreError.self) { try fixture.store.acquireTurnLock(conversationID: id, timeout: 0.05) }
        upstream.answerNext()
        _ = failingRequest
        let (status, json, response) = try failing.finished()
        #expect(status == 429)
        #expect(response.headers["Retry-After"] == "9")
        #expect(json["error"] as? String == "the model is rate-limited; try again later")
        #expect(try fixture.store.messages(conversationID: id).count == 2)
        // ...and given back when the answer failed.
        let lock = try fixture.store.acquireTurnLock(conversationID: id, timeout: 0.05)
        fixture.store.releaseTurnLock(lock)
    }

    /// A turn whose store refuses it (its conversation deleted while the model worked) gets the
    /// store's answer, stores nothing, and gives the turn lock back.
    @Test func aTurnTheStoreRefusesGetsItsErrorAndReleasesTheTurnLock() throws {
        let fixture = try AskFixture(upstream: upstream)
        let id = try conversation(on: fixture)

        let (second, secondRequest) = try start(#"{"prompt":"again","conversation_id":"\#(id)"}"#, on: fixture)
        #expect(try fixture.store.deleteConversation(id: id, owner: "t-alice"))
        upstream.answerNext()
        _ = secondRequest
        let (status, json, _) = try second.finished()
        #expect(status == 404)
        #expect(json["error"] as? String == "conversation not found")
        #expect(try fixture.store.messages(conversationID: id).isEmpty)
        let lock = try fixture.store.acquireTurnLock(conversationID: id, timeout: 0.05)
        fixture.store.releaseTurnLock(lock)
    }

    @Test func anUnknownConversationIsRefusedBeforeAnythingWaits() throws {
        let fixture = try AskFixture(upstream: upstream)
        var incoming = request(#"{"prompt":"x","conversation_id":"00000000-0000-4000-8000-000000000000"}"#, for: fixture)
        let response = fixture.application.respond(to: &incoming)
        #expect(response.status.code == 404)
        #expect(upstream.waitingCount == 0)
    }
}
