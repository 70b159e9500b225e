import Testing
@testable import Upstream

struct ServerSentEventParserTests {
    /// Feeds each chunk in turn, then finishes the stream.
    private func parse(_ chunks: [[UInt8]], maxLineBytes: Int = 1 << 20) throws -> [ServerSentEvent] {
        var parser = ServerSentEventParser(maxLineBytes: maxLineBytes)
        var events: [ServerSentEvent] = []
        for chunk in chunks {
            events += try parser.feed(chunk)
        }
        return events + parser.finish()
    }

    private func parse(_ text: String) throws -> [ServerSentEvent] {
        try parse([Array(text.utf8)])
    }

    @Test func recordedStreamGivesOneEventPerPayload() throws {
        var parser = ServerSentEventParser()
        let events = try parser.feed(Array(OpenAIStreamFixture.body.utf8))
        #expect(events == OpenAIStreamFixture.payloads.map { ServerSentEvent(data: $0) })
        #expect(parser.finish().isEmpty)
    }

    @Test(arguments: OpenAIStreamFixture.LineEnding.allCases)
    func everySplitGivesTheSameEvents(ending: OpenAIStreamFixture.LineEnding) throws {
        let bytes = ending.apply(to: OpenAIStreamFixture.body)
        let expected = OpenAIStreamFixture.payloads.map { ServerSentEvent(data: $0) }
        #expect(try parse([bytes]) == expected)
        for split in 0...bytes.count {
            let events = try parse([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(events == expected, "split at \(split)")
        }
        #expect(try parse(bytes.map { [$0] }) == expected)
    }

    @Test(arguments: OpenAIStreamFixture.LineEnding.allCases)
    func everySplitOfAStreamWithAllFieldsGivesTheSameEvents(ending: OpenAIStreamFixture.LineEnding) throws {
        let body = "\u{FEFF}: hi\nretry: 10\nevent: add\nid: 7\ndata: é\ndata:🎉\n\ndata\nid\n\ndata: x"
        let bytes = ending.apply(to: body)
        let expected = [ServerSentEvent(event: "add", data: "é\n🎉", id: "7"), ServerSentEvent(data: ""), ServerSentEvent(data: "x")]
        #expect(try parse([bytes]) == expected)
        for split in 0...bytes.count {
            #expect(try parse([Array(bytes[..<split]), Array(bytes[split...])]) == expected, "split at \(split)")
        }
        #expect(try parse(bytes.map { [$0] }) == expected)
    }

    @Test func crEndingAChunkAndLFStartingTheNextEndOneLine() throws {
        var parser = ServerSentEventParser()
        #expect(try parser.feed(Array("data: a\r".utf8)).isEmpty)
        #expect(try parser.feed(Array("\n".utf8)).isEmpty)
        #expect(try parser.feed(Array("data: b\r".utf8)).isEmpty)
        #expect(try parser.feed(Array("\n\r".utf8)) == [ServerSentEvent(data: "a\nb")])
        #expect(try parser.feed([UInt8]()).isEmpty)
        #expect(try parser.feed(Array("\ndata: c\r".utf8)).isEmpty)
        #expect(try parser.feed(Array("\r".utf8)) == [ServerSentEvent(data: "c")])
        #expect(parser.finish().isEmpty)
    }

    @Test func commentsAreIgnored() throws {
        #expect(try parse(": keep-alive\n\n:\n\n").isEmpty)
        #expect(try parse(": keep-alive\ndata: a\n: more\ndata: b\n\n") == [ServerSentEvent(data: "a\nb")])
    }

    @Test func dataLinesAreJoinedByNewlines() throws {
        #expect(try parse("data: one\ndata: two\ndata:\ndata: three\n\n") == [ServerSentEvent(data: "one\ntwo\n\nthree")])
        #expect(try parse("data: a\n\ndata: b\n\n") == [ServerSentEvent(data: "a"), ServerSentEvent(data: "b")])
    }

    @Test func eventAndIdFields() throws {
        let events = try parse("event: add\nid: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nevent:\nid: 2\u{0}\ndata: d\n\n")
        #expect(events == [
            ServerSentEvent(event: "add", data: "a", id: "1"),
            // The last event id carries over; the event type does not.
            ServerSentEvent(data: "b", id: "1"),
            ServerSentEvent(data: "c"),
            // An id with NUL is ignored.
            ServerSentEvent(data: "d"),
        ])
    }

    @Test func onlyOneSpaceAfterTheColonIsStripped() throws {
        #expect(try parse("data:a\n\n") == [ServerSentEvent(data: "a")])
        #expect(try parse("data:  a \n\n") == [ServerSentEvent(data: " a ")])
        #expect(try parse("data:a:b: c\n\n") == [ServerSentEvent(data: "a:b: c")])
        #expect(try parse("event:x\ndata:\tb\n\n") == [ServerSentEvent(event: "x", data: "\tb")])
    }

    @Test func aFieldWithoutColonHasAnEmptyValue() throws {
        #expect(try parse("data\n\n") == [ServerSentEvent(data: "")])
        #expect(try parse("data\ndata\n\n") == [ServerSentEvent(data: "\n")])
        #expect(try parse("event\ndata: a\n\n") == [ServerSentEvent(data: "a")])
    }

    @Test func anEventWithoutDataIsNotDispatched() throws {
        #expect(try parse("event: ping\n\n").isEmpty)
        #expect(try parse("event: ping\n\ndata: a\n\n") == [ServerSentEvent(data: "a")])
        #expect(try parse("\n\n\n").isEmpty)
    }

    @Test func retryAndUnknownFieldsAreIgnored() throws {
        #expect(try parse("retry: 1000\nfoo: bar\nDATA: x\ndata : y\ndata: z\n\n") == [ServerSentEvent(data: "z")])
    }

    @Test func finishDispatchesAnEventWithoutBlankLine() throws {
        #expect(try parse("data: a\n\ndata: b\n") == [ServerSentEvent(data: "a"), ServerSentEvent(data: "b")])
        #expect(try parse("data: a\n\ndata: b") == [ServerSentEvent(data: "a"), ServerSentEvent(data: "b")])
        #expect(try parse("data: a\r") == [ServerSentEvent(data: "a")])
        #expect(try parse("event: x\ndata: a\ndata: b").last == ServerSentEvent(event: "x", data: "a\nb"))
        #expect(try parse("data: a\n\nevent: x").count == 1)
        #expect(try parse("").isEmpty)
    }

    @Test func finishResetsForANewStream() throws {
        var parser = ServerSentEventParser()
        _ = try parser.feed(Array("id: 1\ndata: a".utf8))
        #expect(parser.finish() == [ServerSentEvent(data: "a", id: "1")])
        #expect(try parser.feed(Array("\u{FEFF}data: b\n\n".utf8)) == [ServerSentEvent(data: "b")])
    }

    @Test func leadingBOMIsDropped() throws {
        #expect(try parse("\u{FEFF}data: a\n\n") == [ServerSentEvent(data: "a")])
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        #expect(try parse([[0xEF], [0xBB], [0xBF, 0x64], Array("ata: a\n\n".utf8)]) == [ServerSentEvent(data: "a")])
        // Only one, and only at the start: a second BOM is part of the first field's name.
        #expect(try parse([bom + bom + Array("data: a\n\n".utf8)]).isEmpty)
        #expect(try parse("data: a\n\n\u{FEFF}data: b\n\n") == [ServerSentEvent(data: "a")])
        // The start of a BOM that is not one is content.
        #expect(try parse([[0xEF, 0xBB], Array("\n\n".utf8)]).isEmpty)
        #expect(try parse([[0xEF], []]).isEmpty)
        #expect(try parse([[0xEF, 0xBB, 0x3A], Array("\ndata: a\n\n".utf8)]) == [ServerSentEvent(data: "a")])
    }

    @Test func invalidUTF8BecomesReplacementCharacters() throws {
        #expect(try parse([Array("data: a".utf8) + [0xFF, 0xC3] + Array("\n\n".utf8)]) == [ServerSentEvent(data: "a\u{FFFD}\u{FFFD}")])
    }

    @Test func aLineLongerThanTheLimitThrows() throws {
        let limit = 16
        let fits = Array("data: 0123456789".utf8)
        #expect(fits.count == limit)
        #expect(try parse([fits + [0x0A, 0x0A]], maxLineBytes: limit) == [ServerSentEvent(data: "0123456789")])
        #expect(try parse([Array(fits[..<7]), Array(fits[7...]) + [0x0D, 0x0A, 0x0D, 0x0A]], maxLineBytes: limit) == [ServerSentEvent(data: "0123456789")])
        let tooLong = fits + [0x61]
        #expect(throws: ServerSentEventParser.Error.lineTooLong(limit: limit)) {
            try parse([tooLong + [0x0A]], maxLineBytes: limit)
        }
        #expect(throws: ServerSentEventParser.Error.lineTooLong(limit: limit)) {
            try parse([Array(tooLong[..<9]), Array(tooLong[9...])], maxLineBytes: limit)
        }
        // Unterminated, it throws once the buffered part is too long.
        #expect(throws: ServerSentEventParser.Error.lineTooLong(limit: limit)) {
            try parse(tooLong.map { [$0] }, maxLineBytes: limit)
        }
        // The default limit is 1 MiB.
        #expect(ServerSentEventParser().maxLineBytes == 1 << 20)
        #expect(throws: ServerSentEventParser.Error.lineTooLong(limit: 1 << 20)) {
            try parse([Array("data: ".utf8) + [UInt8](repeating: 0x61, count: 1 << 20)])
        }
    }

    @Test func anySequenceOfBytesCanBeFed() throws {
        var parser = ServerSentEventParser()
        let bytes = Array("data: é\n\n".utf8)
        #expect(try parser.feed(bytes.lazy.map { $0 }) == [ServerSentEvent(data: "é")])
        #expect(try parser.feed(bytes[...]) == [ServerSentEvent(data: "é")])
        #expect(try parser.feed("data: é\n\n".utf8) == [ServerSentEvent(data: "é")])
    }
}
