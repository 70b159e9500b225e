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

    @Test func formPairs() {
        let pairs = FormEncoding.pairs("prompt=hello+world&conversation_id=a%2Fb&empty=&flag&&bad=%zz")
        #expect(pairs.map(\.name) == ["prompt", "conversation_id", "empty", "flag"])
        #expect(pairs.map(\.value) == ["hello world", "a/b", "", ""])
        #expect(Request.mock(query: "a=1&a=2").queryParameter("a") == "1")
        #expect(Request.mock(query: "").queryParameter("a") == nil)
    }

    @Test func jsonStringEscaping() {
        #expect(JSONString.quoted("plain") == #""plain""#)
        #expect(JSONString.quoted("q\"b\\n\nt\tc\u{01}") == #""q\"b\\n\nt\tc\u0001""#)
        #expect(JSONString.quoted("ünï ✓") == "\"ünï ✓\"")
        for text in ["plain", "q\"b\\n\nt\tc\u{01}\u{1F}\u{7F}\r", "ünï ✓ 🇫🇷", ""] {
            var bytes: [UInt8] = []
            JSONString.appendQuoted(text, to: &bytes)
            #expect(bytes == Array(JSONString.quoted(text).utf8))
            #expect(JSONValue.object(["k": .string(text), "a": .array([.number(1.5), .integer(3), .bool(true), .null])]).serialized
                == Array(("{\"a\":[1.5,3,true,null],\"k\":" + JSONString.quoted(text) + "}").utf8))
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
