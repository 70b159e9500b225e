@testable import JSON
import Testing

@Suite struct JSONParserTests {
    private func parse(_ text: String, maxDepth: Int = 16) throws(JSONParser.Failure) -> JSONValue {
        try JSONParser.parse(Array(text.utf8), maxDepth: maxDepth)
    }

    @Test func readsEveryKindOfValue() throws {
        let value = try parse(#" {"s":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00","n":-12.5e2,"z":0,"t":true,"f":false,"x":null,"a":[1,[],{}]} "#)
        #expect(value == .object([
            "s": .string("a\"b\\c/d\u{08}\u{0C}\n\r\té😀"), "n": .number(-1250), "z": .number(0), "t": .bool(true),
            "f": .bool(false), "x": .null, "a": .array([.number(1), .array([]), .object([:])]),
        ]))
        #expect(try parse(#""ünï ✓ 😀""#) == .string("ünï ✓ 😀"))
        #expect(try parse("[]") == .array([]))
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", #"{"a":1,}"#, #"{"a" 1}"#, "{a:1}", "01", "1.", ".5", "-", "1e", "+1", "NaN", "1e999",
        "tru", "nul", #""\x""#, #""\u12""#, #""\ud800""#, #""\udc00x""#, #""\ud800\u0041""#, "\"a\u{01}b\"", #""open"#,
        "[1] [2]", "{}x",
    ])
    func refusesWhatIsNotJSON(text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    @Test func reportsWhereReadingStopped() {
        #expect(throws: JSONParser.Failure.invalid(offset: 7)) { try parse(#"{"a":1 "b":2}"#) }
    }

    @Test func boundsNesting() throws {
        #expect(try parse("[[[1]]]", maxDepth: 3) == .array([.array([.array([.number(1)])])]))
        #expect(throws: JSONParser.Failure.tooDeep) { try parse("[[[[1]]]]", maxDepth: 3) }
        #expect(throws: JSONParser.Failure.tooDeep) { try parse(String(repeating: "[", count: 100_000), maxDepth: 16) }
        // Brackets inside strings are text, not nesting.
        #expect(try parse(#"["[[[[{{{{"]"#, maxDepth: 1) == .array([.string("[[[[{{{{")]))
    }

    @Test func writesWhatItReads() throws {
        let text = #"{"a":[1,-2.5,true,false,null],"b":"q\"\n\u0001é","c":{}}"#
        let value = try parse(text)
        #expect(String(decoding: value.serialized, as: UTF8.self) == text)
        #expect(try parse(String(decoding: value.serialized, as: UTF8.self)) == value)
    }

    @Test func escapesTakeTimeInProportionToTheirNumber() throws {
        // A 1 MiB body holds about 170,000 escapes. Each was appended to a String.UnicodeScalarView,
        // in time that grew with the length so far: 150,000 took 2.4 s in a debug build, and
        // eight times as many escapes took 32 times as long. Linear is about 8.
        func seconds(_ count: Int) throws -> Double {
            let text = Array((#"{"prompt":""# + String(repeating: #"\u00e9"#, count: count) + #""}"#).utf8)
            var best = Double.infinity
            for _ in 0..<3 {
                let start = ContinuousClock.now
                let value = try JSONParser.parse(text, maxDepth: 16)
                let elapsed = ContinuousClock.now - start
                best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                #expect(value["prompt"]?.string?.unicodeScalars.count == count)
            }
            return best
        }
        let small = try seconds(20_000)
        let large = try seconds(160_000)
        #expect(large < 16 * small, "20,000 escapes: \(small) s; 160,000: \(large) s")
    }
}
