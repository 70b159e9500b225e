@testable import API
import Foundation
import HTTP
import Store
import Testing

/// `/v1/chat/completions` under the token's limits, as `/ask` is: the same admission, OpenAI's
/// error shape and headers, and the slot given back when the call ends.
struct ChatCompletionsLimitsTests {
    private static let ask = #"{"model":"fake-model","messages":[{"role":"user","content":"hi"}]}"#

    private func limit(_ fixture: ChatFixture, _ set: (inout TokenChange) -> Void) throws {
        var change = TokenChange()
        set(&change)
        _ = try fixture.store.updateToken(idOrName: "alice", change: change)
    }

    @Test func rpmRefusesWithOpenAIsShapeAndHeaders() throws {
        let fixture = try ChatFixture()
        try limit(fixture) { $0.requestsPerMinute = 1 }
        let (first, _) = fixture.request(body: Self.ask)
        #expect(first.status == .ok)
        #expect(first.headers["x-ratelimit-limit-requests"] == "1")
        #expect(first.headers["x-ratelimit-remaining-requests"] == "0")
        let (second, _) = fixture.request(body: Self.ask)
        #expect(second.status == .tooManyRequests)
        let error = try #require(fixture.json(second)["error"] as? [String: Any])
        #expect(error["code"] as? String == "rate_limit_exceeded")
        #expect((error["message"] as? String)?.contains("rate limit reached") == true)
        #expect(second.headers["Retry-After"] != nil)
        #expect(second.headers["x-ratelimit-limit-requests"] == "1")
    }

    @Test func aModelOutsideTheTokensListIs403AndHiddenFromTheList() throws {
        let fixture = try ChatFixture()
        try limit(fixture) { $0.models = ["org/other"] }
        let (refused, _) = fixture.request(body: Self.ask)
        #expect(refused.status == .forbidden)
        let error = try #require(fixture.json(refused)["error"] as? [String: Any])
        #expect(error["message"] as? String == "model not allowed for this token")
        let (list, _) = fixture.request("GET", "/v1/models")
        let ids = (fixture.json(list)["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        #expect(ids == ["org/other"])
    }

    @Test func aParallelSlotComesBackWhenTheCallEnds() throws {
        let fixture = try ChatFixture()
        try limit(fixture) { $0.maxParallel = 1 }
        for _ in 0..<3 {
            let (response, _) = fixture.request(body: Self.ask)
            #expect(response.status == .ok)
        }
        let limits = TokenLimits(maxParallel: 1)
        let deadline = Date().addingTimeInterval(3)
        while try fixture.store.limitReadings(tokenID: "t-alice", limits: limits, at: Date()).slotsInUse > 0, Date() < deadline { usleep(5_000) }
        #expect(try fixture.store.limitReadings(tokenID: "t-alice", limits: limits, at: Date()).slotsInUse == 0)
    }

    /// Seconds read from the store's clock become header values without a trapping conversion,
    /// whatever they are.
    @Test(arguments: [Double.nan, .infinity, -.infinity, -5, 0, 0.2, 61, 1e300])
    func retryTimesAreBounded(seconds: Double) {
        let whole = RateLimitHeaders.wholeSeconds(seconds)
        #expect((1...172_800).contains(whole))
        #expect(RateLimitHeaders.duration(seconds).hasSuffix("s"))
    }
}
