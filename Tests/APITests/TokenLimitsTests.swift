@testable import API
import Auth
import Foundation
import HTTP
import Store
import Testing
import Upstream

/// `/ask` under a token's limits, in process over the memory store: what is admitted, what
/// each refusal says, the headers on every answer, and slots given back on every path.
@Suite struct TokenLimitsTests {
    private func limit(_ fixture: AskFixture, _ name: String = "alice", _ set: (inout TokenChange) -> Void) throws {
        var change = TokenChange()
        set(&change)
        _ = try fixture.store.updateToken(idOrName: name, change: change)
    }

    private func slotsInUse(_ fixture: AskFixture, limits: TokenLimits) throws -> Int {
        try fixture.store.limitReadings(tokenID: "t-alice", limits: limits, at: Date()).slotsInUse
    }

    @Test func requestsPerMinuteAdmitTheLimitThenRefuseWithOpenAIsHeaders() throws {
        let fixture = try AskFixture()
        try limit(fixture) { $0.requestsPerMinute = 2 }
        let first = fixture.ask(#"{"prompt":"one"}"#, token: fixture.alice)
        #expect(first.0 == 200)
        #expect(first.2.headers["x-ratelimit-limit-requests"] == "2")
        #expect(first.2.headers["x-ratelimit-remaining-requests"] == "1")
        let reset = try #require(first.2.headers["x-ratelimit-reset-requests"])
        #expect(reset.hasSuffix("s") && reset != "0s", "\(reset)")
        #expect(first.2.headers["x-ratelimit-limit-tokens"] == nil, "no tokens trio without --tpm")
        #expect(fixture.ask(#"{"prompt":"two"}"#, token: fixture.alice).2.headers["x-ratelimit-remaining-requests"] == "0")
        let refused = fixture.ask(#"{"prompt":"three"}"#, token: fixture.alice)
        #expect(refused.0 == 429)
        #expect(refused.1["error"] as? String == "rate limit reached: 2 requests per minute")
        let retry = try #require(Int(refused.2.headers["Retry-After"] ?? ""))
        #expect((1...61).contains(retry))
        #expect(refused.2.headers["x-ratelimit-remaining-requests"] == "0")
        #expect(fixture.upstream.requests.count == 2, "a refused request never reaches the model")
        #expect(fixture.ask(#"{"prompt":"bob"}"#, token: fixture.bob).0 == 200, "another token is not limited")
    }

    @Test func refusalsBeforeAdmissionDoNotCountAndCarryTheHeaders() throws {
        var settings = AskSettings(maxPromptCharacters: 100)
        settings.models = ["fake-model", "other"]
        let fixture = try AskFixture(settings: settings)
        try limit(fixture) { $0.requestsPerMinute = 1; $0.models = .some(["fake-model"]) }
        let invalid = fixture.ask(#"{"prompt":" "}"#, token: fixture.alice)
        #expect(invalid.0 == 400)
        #expect(invalid.2.headers["x-ratelimit-remaining-requests"] == "1")
        let forbidden = fixture.ask(#"{"prompt":"hi","model":"other"}"#, token: fixture.alice)
        #expect(forbidden.0 == 403)
        #expect(forbidden.1["error"] as? String == "model not allowed for this token")
        #expect(fixture.ask(#"{"prompt":"hi","conversation_id":"c_0123456789abcdef0123456789abcdef"}"#, token: fixture.alice).0 != 200)
        #expect(fixture.ask(#"{"prompt":"hi"}"#, token: fixture.alice).0 == 200, "none of those counted")
        #expect(fixture.ask(#"{"prompt":"hi"}"#, token: fixture.alice).0 == 429)
    }

    @Test func modelsOutsideTheTokensListAreForbiddenWhetherNamedKeptOrDefault() throws {
        var settings = AskSettings(maxPromptCharacters: 100)
        settings.models = ["fake-model", "other", "third"]
        let fixture = try AskFixture(settings: settings)
        let kept = fixture.ask(#"{"prompt":"hi","model":"third"}"#, token: fixture.alice)
        let id = try #require((kept.1["response"] as? [String: Any])?["conversation_id"] as? String)
        try limit(fixture) { $0.models = .some(["other"]) }
        #expect(fixture.ask(#"{"prompt":"hi","model":"other"}"#, token: fixture.alice).0 == 200)
        #expect(fixture.ask(#"{"prompt":"hi"}"#, token: fixture.alice).0 == 403, "the default model is not on the list")
        let continued = fixture.ask(#"{"prompt":"again","conversation_id":"\#(id)"}"#, token: fixture.alice)
        #expect(continued.0 == 403, "the conversation keeps a model outside the list")
        #expect(continued.1["error"] as? String == "model not allowed for this token")
        #expect(fixture.ask(#"{"prompt":"again","conversation_id":"\#(id)","model":"other"}"#, token: fixture.alice).0 == 200)
    }

    @Test func aPatchToAModelOutsideTheTokensListIsForbiddenAndChangesNothing() throws {
        var settings = AskSettings(maxPromptCharacters: 100)
        settings.models = ["fake-model", "other", "third"]
        let fixture = try AskFixture(settings: settings)
        let first = fixture.ask(#"{"prompt":"hi","model":"other"}"#, token: fixture.alice)
        let id = try #require((first.1["response"] as? [String: Any])?["conversation_id"] as? String)
        try limit(fixture) { $0.models = .some(["other"]) }
        let handler = ConversationsHandler(store: fixture.store, verifier: StoreTokenVerifier(store: fixture.store), limits: settings)
        func patch(_ body: String) -> Int {
            let request = Request(
                method: "PATCH", path: "/conversation/\(id)",
                headers: ["Authorization": "Bearer \(fixture.alice)", "Content-Type": "application/json"], body: Array(body.utf8),
                parameters: ["conversation_id": id]
            )
            do { return try handler.update(request).status.code } catch { return (error as? HTTPError)?.status.code ?? 500 }
        }
        #expect(patch(#"{"model":"third"}"#) == 403, "allowed by askd, not by the token")
        #expect(try fixture.store.conversation(id: id, owner: "t-alice")?.settings.model == "other")
        #expect(patch(#"{"model":"other"}"#) == 200)
        #expect(patch(#"{"model":null}"#) == 200, "clearing the model is always allowed")
    }

    @Test func theDaysTokensCapMaxTokensThenRunOutUntilMidnight() throws {
        let fixture = try AskFixture()
        try limit(fixture) { $0.tokensPerDay = 20 }
        #expect(fixture.ask(#"{"prompt":"one","max_tokens":100}"#, token: fixture.alice).0 == 200)
        // The fake model used 12 of the 20: the next request may ask for 8 at most.
        #expect(fixture.ask(#"{"prompt":"two","max_tokens":100}"#, token: fixture.alice).0 == 200)
        #expect(fixture.upstream.requests.map(\.maxTokens) == [20, 8])
        let spent = fixture.ask(#"{"prompt":"three"}"#, token: fixture.alice)
        #expect(spent.0 == 429)
        #expect(spent.1["error"] as? String == "daily token quota exhausted")
        #expect(spent.2.headers["x-should-retry"] == "false")
        let retry = try #require(Int(spent.2.headers["Retry-After"] ?? ""))
        #expect(abs(Double(retry) - RateWindow.secondsToMidnight(after: Date())) <= 2)
    }

    @Test func tokensPerMinuteCountWhatTheModelReported() throws {
        let fixture = try AskFixture()
        try limit(fixture) { $0.tokensPerMinute = 20 }
        let first = fixture.ask(#"{"prompt":"one"}"#, token: fixture.alice)
        #expect(first.2.headers["x-ratelimit-limit-tokens"] == "20")
        #expect(first.2.headers["x-ratelimit-remaining-tokens"] == "20", "counted after the answer")
        let second = fixture.ask(#"{"prompt":"two"}"#, token: fixture.alice)
        #expect(second.0 == 200)
        #expect(second.2.headers["x-ratelimit-remaining-tokens"] == "8")
        let refused = fixture.ask(#"{"prompt":"three"}"#, token: fixture.alice)
        #expect(refused.0 == 429)
        #expect(refused.1["error"] as? String == "rate limit reached: 20 tokens per minute")
        #expect(refused.2.headers["x-ratelimit-remaining-tokens"] == "0")
    }

    @Test func aSlotIsGivenBackAfterAnAnswerAFailureAndAStreamItsClientLeft() throws {
        let fixture = try AskFixture()
        let limits = TokenLimits(maxParallel: 1)
        try limit(fixture) { $0.maxParallel = 1 }
        for _ in 0..<3 { #expect(fixture.ask(#"{"prompt":"hi"}"#, token: fixture.alice).0 == 200) }
        #expect(try slotsInUse(fixture, limits: limits) == 0)

        fixture.upstream.failure = .failed(detail: "boom")
        #expect(fixture.ask(#"{"prompt":"hi"}"#, token: fixture.alice).0 == 502)
        #expect(try slotsInUse(fixture, limits: limits) == 0)
        fixture.upstream.failure = nil

        var request = Request(
            method: "POST", path: "/ask", headers: ["Authorization": "Bearer \(fixture.alice)", "Content-Type": "application/json"],
            body: Array(#"{"prompt":"hi","stream":true}"#.utf8)
        )
        let (_, channel) = fixture.application.respondAndWait(to: &request) { $0.leaveAtWrite = 1 }
        #expect(channel?.started == true)
        #expect(try slotsInUse(fixture, limits: limits) == 0)
        #expect(fixture.ask(#"{"prompt":"hi"}"#, token: fixture.alice).0 == 200)
    }

    @Test func aStreamsHeadCarriesTheHeaders() throws {
        let fixture = try AskFixture()
        try limit(fixture) { $0.requestsPerMinute = 5; $0.tokensPerMinute = 1_000 }
        var request = Request(
            method: "POST", path: "/ask", headers: ["Authorization": "Bearer \(fixture.alice)", "Content-Type": "application/json"],
            body: Array(#"{"prompt":"hi","stream":true}"#.utf8)
        )
        let (response, _) = fixture.application.respondAndWait(to: &request)
        #expect(response.status.code == 200)
        #expect(response.headers["Content-Type"] == "text/event-stream")
        #expect(response.headers["x-ratelimit-remaining-requests"] == "4")
        #expect(response.headers["x-ratelimit-limit-tokens"] == "1000")
    }

    @Test func askdsDefaultsApplyToTokensThatSetNone() throws {
        var settings = AskSettings(maxPromptCharacters: 100)
        settings.defaultLimits = TokenLimits(requestsPerMinute: 1)
        let fixture = try AskFixture(settings: settings)
        try limit(fixture, "bob") { $0.requestsPerMinute = 3 }
        #expect(fixture.ask(#"{"prompt":"hi"}"#, token: fixture.alice).0 == 200)
        #expect(fixture.ask(#"{"prompt":"hi"}"#, token: fixture.alice).0 == 429)
        for _ in 0..<3 { #expect(fixture.ask(#"{"prompt":"hi"}"#, token: fixture.bob).0 == 200) }
    }
}
