import HTTP
import Logging
import Testing

struct ApplicationTests {
    struct Unexpected: Error {}

    private func application() -> Application {
        var router = Router()
        router.get("/ok") { request in .json(.ok, Array(#"{"id":"\#(request.id)"}"#.utf8)) }
        router.get("/teapot") { _ in throw HTTPError(.badRequest, "bad \"quoted\" input", fields: ["field": "prompt"]) }
        router.get("/boom") { _ in throw Unexpected() }
        router.get("/secret") { _ in throw HTTPError(.unauthorized, "access token is required") }
        return Application(router: router, logger: Logger(label: "test"))
    }

    @Test func keepsASaneIncomingRequestID() {
        var request = Request.mock("GET", "/ok", headers: ["X-Request-Id": "abc-123_x.y:z"])
        let response = application().respond(to: &request)
        #expect(request.id == "abc-123_x.y:z")
        #expect(response.headers["X-Request-Id"] == "abc-123_x.y:z")
        #expect(response.bodyText == #"{"id":"abc-123_x.y:z"}"#)
    }

    @Test(arguments: ["", "has space", "new\nline", String(repeating: "a", count: 129), "ünï", "<script>"])
    func replacesAnInsaneRequestID(incoming: String) {
        var request = Request.mock("GET", "/ok", headers: ["X-Request-Id": incoming])
        let response = application().respond(to: &request)
        #expect(request.id != incoming)
        #expect(request.id.count == 32)
        #expect(response.headers["x-request-id"] == request.id)
    }

    @Test func generatesDistinctIDs() {
        let ids = Set((0..<100).map { _ in RequestID.generate() })
        #expect(ids.count == 100)
    }

    @Test func anHTTPErrorBecomesItsStatusAndJSONBody() {
        var request = Request.mock("GET", "/teapot")
        let response = application().respond(to: &request)
        #expect(response.status == .badRequest)
        #expect(response.headers["Content-Type"] == "application/json")
        #expect(response.bodyText == #"{"error":"bad \"quoted\" input","field":"prompt"}"#)
        #expect(response.headers["X-Request-Id"] == request.id)
    }

    @Test func anUnexpectedErrorIsAnOpaque500WithTheRequestID() {
        var request = Request.mock("GET", "/boom", headers: ["X-Request-Id": "r1"])
        let response = application().respond(to: &request)
        #expect(response.status == .internalServerError)
        #expect(response.bodyText == #"{"error":"internal error","request_id":"r1"}"#)
        #expect(!response.bodyText.contains("Unexpected"))
    }

    @Test func unknownPathIs404AndWrongMethodIs405WithAllow() {
        var missing = Request.mock("GET", "/nowhere")
        let notFound = application().respond(to: &missing)
        #expect(notFound.status == .notFound)
        #expect(notFound.bodyText.hasPrefix(#"{"error":"#))

        var wrong = Request.mock("DELETE", "/ok")
        let notAllowed = application().respond(to: &wrong)
        #expect(notAllowed.status == .methodNotAllowed)
        #expect(notAllowed.headers["Allow"] == "GET, HEAD")
        #expect(notAllowed.bodyText.hasPrefix(#"{"error":"#))
    }

    @Test func unauthorizedCarriesWWWAuthenticate() {
        var request = Request.mock("GET", "/secret")
        let response = application().respond(to: &request)
        #expect(response.status == .unauthorized)
        #expect(response.headers["WWW-Authenticate"] == "Bearer")
    }

    @Test func aTransportFailureGoesThroughTheSameMapping() {
        var request = Request.mock("POST", "/ok", headers: ["X-Request-Id": "big"])
        let response = application().respond(to: &request, failingWith: HTTPError.contentTooLarge(limit: 10))
        #expect(response.status == .contentTooLarge)
        #expect(response.bodyText == #"{"error":"request body is larger than the limit of 10 bytes"}"#)
        #expect(response.headers["X-Request-Id"] == "big")
    }
}
