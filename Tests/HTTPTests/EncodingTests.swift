@testable import HTTP
import Testing

struct EncodingTests {
    @Test func percentDecoding() {
        #expect(PercentDecoding.decode("a%20b") == "a b")
        #expect(PercentDecoding.decode("a+b") == "a+b")
        #expect(PercentDecoding.decode("a+b", plusIsSpace: true) == "a b")
        #expect(PercentDecoding.decode("%E2%9C%93") == "✓")
        #expect(PercentDecoding.decode("%") == nil)
        #expect(PercentDecoding.decode("%4") == nil)
        #expect(PercentDecoding.decode("%zz") == nil)
        #expect(PercentDecoding.decode("%FF") == nil, "not UTF-8")
        #expect(PercentDecoding.decode("ab%41") == "abA")
    }

    @Test func formPairs() throws {
        let pairs = try FormEncoding.pairs("prompt=hello+world&conversation_id=a%2Fb&empty=&flag&&n%C3%A4me=%E2%9C%93")
        #expect(pairs.map(\.name) == ["prompt", "conversation_id", "empty", "flag", "näme"])
        #expect(pairs.map(\.value) == ["hello world", "a/b", "", "", "✓"])
        #expect(try Request.mock(query: "a=1&a=2").queryParameter("a") == "1")
        #expect(try Request.mock(query: "").queryParameter("a") == nil)
        #expect(try Request.mock(query: "other=%zz&a=1").queryParameter("a") == "1", "only the pair asked for is judged")
    }

    /// A field that does not decode is an error naming it, never a field silently dropped.
    @Test(arguments: [
        ("prompt=a&conversation_id=abc%zz", "conversation_id is not percent-encoded UTF-8"),
        ("prompt=%FF", "prompt is not percent-encoded UTF-8"),
        ("prompt=100%", "prompt is not percent-encoded UTF-8"),
        ("prompt=a&%FF=b", "a field name is not percent-encoded UTF-8"),
    ])
    func aFieldThatDoesNotDecodeIsA400NamingIt(form: String, message: String) {
        #expect(throws: HTTPError.badRequest(message)) {
            do { _ = try FormEncoding.pairs(form) } catch let error as FormEncoding.Undecodable { throw HTTPError(error) }
        }
    }

    @Test func aQueryParameterThatDoesNotDecodeIsA400() {
        #expect(throws: HTTPError.badRequest("conversation_id is not percent-encoded UTF-8")) {
            try Request.mock(query: "conversation_id=%FF").queryParameter("conversation_id")
        }
    }

    @Test func headerLookupIgnoresCase() {
        var headers: HTTPHeaders = ["Content-Type": "a"]
        #expect(headers["content-type"] == "a")
        #expect(headers["CONTENT-TYPE"] == "a")
        #expect(headers["content-typf"] == nil)
        headers.replaceOrAdd(name: "content-type", value: "b")
        #expect(headers.count == 1)
        #expect(headers["Content-Type"] == "b")
    }

    @Test func millisecondsFormatting() {
        #expect(Application.milliseconds(0.0012345) == "1.235")
        #expect(Application.milliseconds(2) == "2000.000")
        #expect(Application.milliseconds(0.000_05) == "0.050")
    }
}
