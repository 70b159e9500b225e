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

    @Test func aStreamsWritesAreTheClientsWait() throws {
        let recorder = Recording()
        var router = Router()
        router.get("/stream") { _ in
            Response(body: .stream { writer in
                try writer.write("a")
                try writer.write("b")
            })
        }
        let application = Application(router: router, logger: .init(label: "test"), recorder: recorder)
        var request = Request(method: "GET", path: "/stream")
        let response = application.respond(to: &request)
        guard case .stream(let produce) = response.body else { throw Unexpected() }
        #expect(recorder.open.withLock { $0 } == 0)
        try produce(SlowWriter(recorder: recorder))
        #expect(recorder.open.withLock { $0 } == 0, "closed again")
        #expect(recorder.maxOpen.withLock { $0 } == 1)
        application.logCompletion(of: request, status: 200, seconds: 1)
        let call = try #require(recorder.calls.withLock { $0 }.first)
        #expect(call.client >= 0.06 && call.client < 0.5, "two writes of 30 ms: \(call.client)")
        #expect(call.upstream == 0)
    }

    @Test func aDeferredResponsesWaitIsTheModelsOnTheThreadThatFinishesIt() throws {
        let recorder = Recording()
        var router = Router()
        router.get("/later") { _ in
            Response(body: .deferred(DeferredResponse { resume in
                Thread.detachNewThread {
                    usleep(40_000)
                    resume { .json(.ok, Array("{}".utf8)) }
                }
            }))
        }
        let application = Application(router: router, logger: .init(label: "test"), recorder: recorder)
        var request = Request(method: "GET", path: "/later")
        let response = application.respond(to: &request)
        guard case .deferred(let deferred) = response.body else { throw Unexpected() }
        let finished = Locked<DeferredResponse.Finish?>(nil)
        deferred.start { finish in finished.withLock { $0 = finish } }
        try waitUntilFinished(finished)
        let finish = try #require(finished.withLock { $0 })
        // Another thread finishes it, as a finisher does; what this thread waited is not carried.
        let request2 = request
        let done = Locked(false)
        Thread.detachNewThread {
            RequestWaits.reset(upstream: 99, client: 99)
            let answer = application.finish(finish, request: request2)
            application.logCompletion(of: request2, status: answer.status.code, seconds: 1)
            done.withLock { $0 = true }
        }
        try waitUntilDone(done)
        let call = try #require(recorder.calls.withLock { $0 }.first)
        #expect(call.upstream >= 0.04 && call.upstream < 1, "\(call.upstream)")
        #expect(call.client == 0)
    }

    private func waitUntilFinished(_ finished: Locked<DeferredResponse.Finish?>) throws {
        for _ in 0..<500 where finished.withLock({ $0 == nil }) { usleep(10_000) }
    }

    private func waitUntilDone(_ done: Locked<Bool>) throws {
        for _ in 0..<500 where !done.withLock({ $0 }) { usleep(10_000) }
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
    let open = Locked(0)
    let maxOpen = Locked(0)

    func requestFinished(route: String, method: String, status: Int, seconds: Double, upstreamSeconds: Double, clientSeconds: Double) {
        calls.withLock { $0.append(Call(route: route, status: status, upstream: upstreamSeconds, client: clientSeconds)) }
    }

    func streamOpened() {
        let now = open.withLock { $0 += 1; return $0 }
        maxOpen.withLock { $0 = max($0, now) }
    }

    func streamClosed() {
        open.withLock { $0 -= 1 }
    }
}

private struct SlowWriter: BodyWriter {
    let recorder: Recording
    func write(_ bytes: [UInt8]) throws { usleep(30_000) }
    var clientIsGone: Bool { false }
}
