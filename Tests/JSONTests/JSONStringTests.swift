import JSON
import Testing

struct JSONStringTests {
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
}
