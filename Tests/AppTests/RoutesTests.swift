@testable import App
import HTTP
import Logging
import Store
import Platform
import Testing
import Upstream

struct RoutesTests {
    @Test func healthzAnswersOK() throws {
        let settings = try configuration(flags: .init(), environment: [:])
        let application = Application(router: Routes.make(configuration: settings, store: MemoryStore(), upstream: EchoProvider()), logger: Logger(label: "test"))
        var request = Request(method: "GET", path: "/healthz")
        let response = application.respond(to: &request)
        #expect(response.status == HTTPStatus.ok)
        guard case .bytes(let body) = response.body else {
            Issue.record("healthz should not stream")
            return
        }
        #expect(String(decoding: body, as: UTF8.self) == #"{"status":"ok"}"#)
    }

    @Test func testRoutesNeedTheirSwitch() throws {
        let off = try configuration(flags: .init(), environment: [:])
        guard case .notFound = Routes.make(configuration: off, store: MemoryStore(), upstream: EchoProvider()).resolve(method: "GET", path: "/_test/slow") else {
            Issue.record("test routes must be off without ASKD_TEST_ROUTES=1")
            return
        }
        let on = try configuration(flags: .init(), environment: ["ASKD_TEST_ROUTES": "1"])
        guard case .matched = Routes.make(configuration: on, store: MemoryStore(), upstream: EchoProvider()).resolve(method: "GET", path: "/_test/slow") else {
            Issue.record("test routes must be on with ASKD_TEST_ROUTES=1 in a debug build")
            return
        }
    }
}

#if DEBUG
extension RoutesTests {
    /// A negative number for the test routes trapped and stopped askd; they are clamped instead.
    @Test func testRoutesClampTheirNumbers() throws {
        let settings = try configuration(flags: .init(), environment: ["ASKD_TEST_ROUTES": "1"])
        let application = Application(router: Routes.make(configuration: settings, store: MemoryStore(), upstream: EchoProvider()), logger: Logger(label: "test"))
        for ms in ["-1", "-9223372036854775808"] {
            var request = Request(method: "GET", path: "/_test/slow", query: "ms=\(ms)")
            let response = application.respond(to: &request)
            guard case .bytes(let body) = response.body else {
                Issue.record("/_test/slow should not stream")
                return
            }
            #expect(String(decoding: body, as: UTF8.self) == #"{"slept_ms":0}"#, "ms=\(ms)")
        }
        for query in ["chunks=-1", "chunks=-9223372036854775808", "chunks=1&interval_ms=-1"] {
            var request = Request(method: "GET", path: "/_test/stream", query: query)
            guard case .later(let start) = application.respond(to: &request).body else {
                Issue.record("/_test/stream should answer later")
                return
            }
            let writer = CollectingChannel()
            start(writer)
            writer.ended.take()
            #expect(writer.chunks.count == (query.hasPrefix("chunks=1") ? 1 : 0), "\(query)")
        }
        let request = Request(method: "GET", path: "/_test/slow", query: "ms=9223372036854775807")
        #expect(try TestRoutes.number("ms", of: request, default: 1000, within: 0...60_000) == 60_000)
        #expect(try TestRoutes.number("ms", of: Request(method: "GET", path: "/"), default: 1000, within: 0...60_000) == 1000)
    }
}

/// A body sent later, kept chunk by chunk.
private final class CollectingChannel: ResponseChannel, @unchecked Sendable {
    let requestID = "test"
    let ended = Handoff<Void>()
    var chunks: [[UInt8]] = []
    var started = false
    var clientIsGone: Bool { false }
    func addUpstreamWait(_ seconds: Double) {}
    var mustEndNow: Bool { false }
    func begin(status: HTTPStatus, headers: HTTPHeaders) { started = true }
    func write(_ bytes: [UInt8]) -> Bool {
        chunks.append(bytes)
        return true
    }
    func end() { ended.put(()) }
    func respond(_ response: Response) { ended.put(()) }
    func fail(_ error: any Error) { ended.put(()) }
}
#endif
