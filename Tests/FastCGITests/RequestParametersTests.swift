@testable import FastCGI
import HTTP
import Testing

struct RequestParametersTests {
    /// What nginx sends with Debian's stock fastcgi_params for `POST /ask?conversation_id=x`
    /// (askd's own config sends fewer; the others must be ignored).
    private let nginxParams: [(name: String, value: String)] = [
        ("QUERY_STRING", "conversation_id=x%20y"),
        ("REQUEST_METHOD", "POST"),
        ("CONTENT_TYPE", "application/json"),
        ("CONTENT_LENGTH", "17"),
        ("SCRIPT_NAME", "/ask"),
        ("REQUEST_URI", "/ask?conversation_id=x%20y"),
        ("DOCUMENT_URI", "/ask"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REMOTE_ADDR", "192.0.2.7"),
        ("REMOTE_PORT", "51000"),
        ("HTTP_HOST", "example.com"),
        ("HTTP_AUTHORIZATION", "Bearer askd_secret"),
        ("HTTP_X_REQUEST_ID", "req-1"),
        ("HTTP_PROXY", "http://evil"),
        ("HTTP_CONTENT_TYPE", "application/json"),
    ]

    @Test func mapsNginxParamsToARequest() throws {
        let (request, length) = RequestParameters.request(from: nginxParams)
        #expect(request.method == "POST")
        #expect(request.path == "/ask")
        #expect(request.query == "conversation_id=x%20y")
        #expect(request.remoteAddress == "192.0.2.7")
        #expect(request.headers["Authorization"] == "Bearer askd_secret")
        #expect(request.headers["X-Request-Id"] == "req-1")
        #expect(request.headers["Host"] == "example.com")
        #expect(request.headers["Content-Type"] == "application/json")
        #expect(request.headers["Content-Length"] == "17")
        #expect(request.headers["Proxy"] == nil, "httpoxy: HTTP_PROXY is dropped")
        #expect(try length.get() == .exactly(17))
    }

    @Test func keepsTheRawPathFromRequestURI() {
        let (request, _) = RequestParameters.request(from: [
            ("REQUEST_URI", "/conversation/a%2Fb?x=1"), ("DOCUMENT_URI", "/conversation/a/b"), ("QUERY_STRING", "x=1"),
        ])
        #expect(request.path == "/conversation/a%2Fb")
        #expect(request.query == "x=1")
    }

    @Test func fallsBackToDocumentURIAndTheQueryInRequestURI() {
        let (onlyDocument, _) = RequestParameters.request(from: [("DOCUMENT_URI", "/healthz")])
        #expect(onlyDocument.path == "/healthz")
        #expect(onlyDocument.method == "GET")
        let (queryInURI, _) = RequestParameters.request(from: [("REQUEST_URI", "/ask?a=b")])
        #expect(queryInURI.path == "/ask")
        #expect(queryInURI.query == "a=b")
        let (nothing, _) = RequestParameters.request(from: [])
        #expect(nothing.path == "/")
    }

    @Test(arguments: [("", BodyLength.untilEndOfStream), ("0", .exactly(0)), ("1048576", .exactly(1_048_576))])
    func bodyLength(contentLength: String, expected: BodyLength) throws {
        let (_, length) = RequestParameters.request(from: [("CONTENT_LENGTH", contentLength)])
        #expect(try length.get() == expected)
    }

    @Test func noContentLengthMeansReadToTheEnd() throws {
        let (_, length) = RequestParameters.request(from: [("REQUEST_METHOD", "POST")])
        #expect(try length.get() == .untilEndOfStream)
    }

    @Test(arguments: ["-1", "12abc", " 12", "99999999999999999999999", "+5", "1e3"])
    func aMalformedContentLengthIs400(contentLength: String) {
        let (_, length) = RequestParameters.request(from: [("CONTENT_LENGTH", contentLength)])
        #expect(throws: HTTPError.self) { try length.get() }
        if case .failure(let error) = length { #expect(error.status == .badRequest) }
    }

    @Test func headerNames() {
        #expect(RequestParameters.headerName(fromParameter: "X_REQUEST_ID") == "x-request-id")
        #expect(RequestParameters.headerName(fromParameter: "ACCEPT") == "accept")
    }
}
