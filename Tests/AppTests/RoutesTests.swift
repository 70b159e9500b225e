@testable import App
import HTTP
import Logging
import Store
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
