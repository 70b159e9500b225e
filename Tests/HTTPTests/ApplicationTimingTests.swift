import Foundation
import Glibc
import Platform
import Testing

@testable import HTTP

/// What `Application` tells its `RequestRecorder`: the route pattern, and the waits for the
/// model and the client, wherever the request was finished.
struct ApplicationTimingTests {
    @Test func theRoutePatternNeverTheRawPath() throws {
        let recorder = Recording()
        var router = Router()
        router.get("/conversation/{id}") { _ in .json(.ok, Array("{}".utf8)) }
        let application = Application(router: router, logger: .init(label: "test"), recorder: recorder)
        var request = Request(method: "GET", path: "/conversation/secret-id-42")
        let response = application.respond(to: &request)
        application.logCompletion(of: request, status: response.status.code, seconds: 0.01)
        var unmatched = Request(method: "GET", path: "/secret/token")
        _ = application.respond(to: &unmatched)
        application.logCompletion(of: unmatched, status: 404, seconds: 0.01)
        let calls = recorder.calls.withLock { $0 }
        #expect(calls.map(\.route) == ["/conversation/{id}", ""])
        #expect(calls.map(\.status) == [200, 404])
    }

    /// A response answered later reports its own waits (the transport's `OutputChannel`
    /// measures them); they reach the recorder as given, whatever the thread counted.
    @Test func waitsGivenByTheTransportAreRecorded() throws {
        let recorder = Recording()
        let application = Application(router: Router(), logger: .init(label: "test"), recorder: recorder)
        var request = Request(method: "POST", path: "/ask")
        _ = application.respond(to: &request)
        RequestWaits.reset(upstream: 99, client: 99)
        application.logCompletion(of: request, status: 200, seconds: 1, upstreamSeconds: 0.4, clientSeconds: 0.1)
        let call = try #require(recorder.calls.withLock { $0 }.first)
        #expect(call.upstream == 0.4)
        #expect(call.client == 0.1)
    }
}

extension ApplicationTimingTests {
    /// A refusal by one of askd's own limits is counted once, by the limit that refused it; any
    /// other error, a model's 429 included, is not.
    @Test func refusalsByAskdsLimitsAreCountedByLimit() throws {
        let recorder = Recording()
        var router = Router()
        router.get("/refused") { _ in
            var error = HTTPError(.tooManyRequests, "rate limit reached: 1 request per minute")
            error.refusedBy = "rpm"
            throw error
        }
        router.get("/model") { _ in throw HTTPError(.tooManyRequests, "the model is rate-limited; try again later") }
        let application = Application(router: router, logger: .init(label: "test"), recorder: recorder)
        var refused = Request(method: "GET", path: "/refused")
        #expect(application.respond(to: &refused).status == .tooManyRequests)
        var model = Request(method: "GET", path: "/model")
        #expect(application.respond(to: &model).status == .tooManyRequests)
        var busy = Request(method: "GET", path: "/anything")
        _ = application.respond(to: &busy, failingWith: HTTPError.serverBusy)
        #expect(recorder.refusals.withLock { $0 } == ["rpm", "in_flight"])
    }
}

private struct Unexpected: Error {}

private final class Recording: RequestRecorder {
    struct Call {
        let route: String
        let status: Int
        let upstream: Double
        let client: Double
    }

    let calls = Locked<[Call]>([])
    let refusals = Locked<[String]>([])
    let open = Locked(0)
    let maxOpen = Locked(0)

    func requestFinished(route: String, method: String, status: Int, seconds: Double, upstreamSeconds: Double, clientSeconds: Double) {
        calls.withLock { $0.append(Call(route: route, status: status, upstream: upstreamSeconds, client: clientSeconds)) }
    }

    func refused(by limit: String) {
        refusals.withLock { $0.append(limit) }
    }

    func streamOpened() {
        let now = open.withLock { $0 += 1; return $0 }
        maxOpen.withLock { $0 = max($0, now) }
    }

    func streamClosed() {
        open.withLock { $0 -= 1 }
    }
}
