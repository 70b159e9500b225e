import JSON
import Testing

struct JSONMembersTests {
    private func members(_ text: String) throws -> JSONMembers {
        try #require(JSONMembers(Array(text.utf8)))
    }

    @Test func membersKeepTheirBytesWhateverTheirKind() throws {
        let object = try members(#" { "a" : 12345678901234567890 , "b":[1,{"c":"}\"]"}], "e\u0041":"x", "f":-0.0e+1 ,"g":null} "#)
        #expect(object.members.map(\.key) == ["a", "b", "eA", "f", "g"])
        #expect(object.members.map { String(decoding: $0.value, as: UTF8.self) } == [
            "12345678901234567890", #"[1,{"c":"}\"]"}]"#, #""x""#, "-0.0e+1", "null",
        ])
        #expect(String(decoding: object.serialized, as: UTF8.self) == #"{"a":12345678901234567890,"b":[1,{"c":"}\"]"}],"eA":"x","f":-0.0e+1,"g":null}"#)
    }

    @Test func setReplacesInPlaceRemovesRepeatsAndAppendsNewKeys() throws {
        var object = try members(#"{"x":1,"s":{"a":1},"y":2,"s":3}"#)
        object.set("s", raw: Array(#"{"include_usage":true}"#.utf8))
        object.set("n", raw: Array("7".utf8))
        object.remove("y")
        #expect(String(decoding: object.serialized, as: UTF8.self) == #"{"x":1,"s":{"include_usage":true},"n":7}"#)
        #expect(object["s"].map { String(decoding: $0, as: UTF8.self) } == #"{"include_usage":true}"#)
    }

    @Test func theLastOfARepeatedKeyIsTheOneRead() throws {
        let object = try members(#"{"k":1,"k":2}"#)
        #expect(object["k"].map { String(decoding: $0, as: UTF8.self) } == "2", "as JSONParser keeps it")
    }

    @Test func onlyObjectsHaveMembers() throws {
        #expect(JSONMembers(Array("[1,2]".utf8)) == nil)
        #expect(JSONMembers(Array(#""text""#.utf8)) == nil)
        #expect(try members("{}").members.isEmpty)
        #expect(String(decoding: try members(" { } ").serialized, as: UTF8.self) == "{}")
    }

    @Test func whatTheParserReadsTheMembersReadAlike() throws {
        let texts = [
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a,b}]"}]}],"seed":1e3,"t":true,"f":false}"#,
            "{\"a\":\"\\\\\",\"b\":\"\\\"\",\"c\":[[],{}],\"d\":\"\u{1F600}\"}",
        ]
        for text in texts {
            let parsed = try JSONParser.parse(Array(text.utf8), maxDepth: 16)
            let rebuilt = try JSONParser.parse(try members(text).serialized, maxDepth: 16)
            #expect(parsed == rebuilt, "\(text)")
        }
    }
}
