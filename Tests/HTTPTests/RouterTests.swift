import HTTP
import Testing

struct RouterTests {
    private func router() -> Router {
        var router = Router()
        router.get("/healthz") { _ in Response(status: .ok, body: .bytes(Array("health".utf8))) }
        router.delete("/conversation/{id}") { request in
            Response(status: .noContent, headers: ["X-Id": request.parameters["id"] ?? "-"])
        }
        router.get("/conversation/{id}") { _ in Response(status: .ok) }
        router.post("/ask") { _ in Response(status: .ok) }
        return router
    }

    @Test func matchesALiteralPath() {
        guard case .matched = router().resolve(method: "GET", path: "/healthz") else {
            Issue.record("GET /healthz did not match")
            return
        }
    }

    @Test func capturesAndDecodesPathParameters() throws {
        guard case .matched(let handler, let parameters) = router().resolve(method: "DELETE", path: "/conversation/a%20b%2Fc")
        else {
            Issue.record("DELETE /conversation/... did not match")
            return
        }
        #expect(parameters == ["id": "a b/c"])
        var request = Request.mock("DELETE", "/conversation/x")
        request.parameters = parameters
        #expect(try handler(request).headers["x-id"] == "a b/c")
    }

    @Test(arguments: ["/nope", "/healthz/", "/conversation/", "/conversation", "/conversation/a/b", "", "/ask/x", "/conversation/%zz"])
    func unknownPathsAreNotFound(path: String) {
        guard case .notFound = router().resolve(method: "GET", path: path) else {
            Issue.record("\(path) should be not found")
            return
        }
    }

    @Test func aWrongMethodListsTheAllowedOnes() {
        guard case .methodNotAllowed(let allow) = router().resolve(method: "PUT", path: "/conversation/42") else {
            Issue.record("PUT should not be allowed")
            return
        }
        #expect(allow == ["DELETE", "GET", "HEAD"])
        guard case .methodNotAllowed(let askAllow) = router().resolve(method: "GET", path: "/ask") else {
            Issue.record("GET /ask should not be allowed")
            return
        }
        #expect(askAllow == ["POST"])
    }

    @Test func headFallsBackToGet() {
        guard case .matched = router().resolve(method: "HEAD", path: "/healthz") else {
            Issue.record("HEAD /healthz should use the GET handler")
            return
        }
    }

    @Test func methodsAreCaseSensitive() {
        guard case .methodNotAllowed = router().resolve(method: "get", path: "/healthz") else {
            Issue.record("lower-case get is not GET")
            return
        }
    }
}
