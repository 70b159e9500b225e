import HTTP
import JSON
import Logging
import Testing

/// An error format that is not askd's, to see where the router applies it.
private struct BracketFormat: ErrorFormat {
    func body(of error: HTTPError, requestID: String) -> (body: [UInt8], headers: HTTPHeaders) {
        (Array("[\(error.status.code)] \(error.message)".utf8), ["X-Format": "bracket"])
    }

    func noSuchEndpoint(method: String, path: String) -> HTTPError {
        HTTPError(.notFound, "nothing at \(path)")
    }
}

struct ErrorFormatTests {
    private func application() -> Application {
        var router = Router()
        router.get("/v1/things", use: { _ in throw HTTPError.badRequest("bad thing") })
        router.get("/v1x", use: { _ in throw HTTPError.badRequest("not under /v1/") })
        router.get("/plain", use: { _ in throw HTTPError.badRequest("plain") })
        router.formatErrors(under: "/v1/", as: BracketFormat())
        return Application(router: router, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    private func answer(_ method: String, _ path: String) -> (Int, String, HTTPHeaders) {
        var request = Request(method: method, path: path)
        let response = application().respond(to: &request)
        guard case .bytes(let body) = response.body else { return (response.status.code, "", response.headers) }
        return (response.status.code, String(decoding: body, as: UTF8.self), response.headers)
    }

    @Test func errorsUnderThePrefixUseItsFormatAndTheRestAskdsOwn() {
        let (status, body, headers) = answer("GET", "/v1/things")
        #expect(status == 400 && body == "[400] bad thing" && headers["X-Format"] == "bracket")
        #expect(headers["X-Request-Id"] != nil, "every response carries its request id")
        #expect(answer("GET", "/plain").1 == #"{"error":"plain"}"#)
        #expect(answer("GET", "/v1x").1.hasPrefix(#"{"error":"not under"#), "a path that only begins like the prefix is not under it")
    }

    @Test func unmatchedPathsAndMethodsUnderThePrefixUseItsFormat() {
        #expect(answer("GET", "/v1/nothing").1 == "[404] nothing at /v1/nothing")
        #expect(answer("GET", "/v1").1 == "[404] nothing at /v1", "the prefix without its slash is under it")
        #expect(answer("POST", "/v1/things").1.hasPrefix("[405] method not allowed"))
        #expect(answer("GET", "/elsewhere").1.hasPrefix(#"{"error":"no such endpoint: GET "#))
    }

    @Test func theLongestPrefixWins() {
        var router = Router()
        router.formatErrors(under: "/v1/", as: BracketFormat())
        router.formatErrors(under: "/v1/askd/", as: AskdErrorFormat())
        #expect(router.errorFormat(for: "/v1/askd/x") is AskdErrorFormat)
        #expect(router.errorFormat(for: "/v1/x") is BracketFormat)
        #expect(router.errorFormat(for: "/other") is AskdErrorFormat)
    }

    @Test func bodyLimitsFollowThePathPrefix() {
        var options = ServerOptions(maxBodyBytes: 100)
        options.maxBodyBytesByPrefix = ["/v1/": 5_000]
        #expect(options.maxBodyBytes(forPath: "/v1/chat/completions") == 5_000)
        #expect(options.maxBodyBytes(forPath: "/ask") == 100)
        #expect(options.maxBodyBytes(forPath: "/v1") == 100, "only paths under /v1/ carry chat bodies")
    }
}
