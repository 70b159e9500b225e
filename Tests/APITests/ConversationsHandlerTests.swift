@testable import API
import Foundation
import HTTP
import Store
import Testing

@Suite struct ConversationsHandlerTests {
    @Test func cursorsRoundTripAndForgeriesAreRefused() throws {
        for id in ["a", "0f8fad5b-d9cb-469f-a165-70867728950e", "x_y-z"] {
            let conversation = Conversation(id: id, owner: "t", createdAt: Date(timeIntervalSince1970: 1_795_700_000.123), updatedAt: Date())
            let cursor = try ConversationsHandler.cursor(from: ConversationsHandler.token(for: conversation))
            #expect(cursor.id == id)
            #expect(Int64((cursor.createdAt.timeIntervalSince1970 * 1000).rounded()) == 1_795_700_000_123)
        }
        for forged in ["", "!!!!", Base64URL.encode(Array("12.../etc".utf8)), Base64URL.encode(Array("-5.a".utf8)), "A"] {
            #expect(throws: HTTPError.self, "\(forged)") { try ConversationsHandler.cursor(from: forged) }
        }
        for length in 0..<10 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 250) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
    }

    /// A cursor decoding to a time past year 9999 is refused, not converted with a trapping cast.
    @Test func cursorsAtExtremeTimesAreRefused() throws {
        for milliseconds in ["9223372036854775807", "253402300800000", "99999999999999999999", "-9223372036854775808"] {
            let forged = Base64URL.encode(Array("\(milliseconds).a".utf8))
            #expect(throws: HTTPError.self, "\(milliseconds)") { try ConversationsHandler.cursor(from: forged) }
        }
        let latest = try ConversationsHandler.cursor(from: Base64URL.encode(Array("253402300799999.a".utf8)))
        #expect(latest.createdAt.milliseconds == 253_402_300_799_999)
        let far = Conversation(id: "a", owner: "t", createdAt: Date(timeIntervalSince1970: 1e300), updatedAt: Date())
        #expect(try ConversationsHandler.cursor(from: ConversationsHandler.token(for: far)).createdAt == Date.latestStored)
    }

    @Test func datesOutsideWhatAStoreKeepsAreClampedNotTrapped() {
        #expect(Date(timeIntervalSince1970: 9.3e15).milliseconds == 253_402_300_799_999)
        #expect(Date(timeIntervalSince1970: .infinity).milliseconds == 253_402_300_799_999)
        #expect(Date(timeIntervalSince1970: -.infinity).milliseconds == -62_135_596_800_000)
        #expect(Date(timeIntervalSince1970: .nan).milliseconds == -62_135_596_800_000)
        #expect(Date(timeIntervalSince1970: 1.5).milliseconds == 1_500)
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1e300)) == "9999-12-31T23:59:59Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: -1e300)) == "0001-01-01T00:00:00Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: .nan)) == "1970-01-01T00:00:00Z")
        #expect(RFC3339.format(seconds: Int.max, milliseconds: -5) == "9999-12-31T23:59:59.000Z")
    }

    @Test func titlesComeFromTheFirstLineCutOnWholeCharacters() {
        #expect(ConversationsHandler.title(nil) == .null)
        #expect(ConversationsHandler.title("  \n ") == .null)
        #expect(ConversationsHandler.title("Hello\nworld") == .string("Hello"))
        #expect(ConversationsHandler.title("a  b\tc") == .string("a b c"))
        let long = String(repeating: "👩‍👩‍👧", count: 70)
        guard case .string(let title) = ConversationsHandler.title(long) else { Issue.record("no title"); return }
        #expect(title.count == 60)
        #expect(title.hasSuffix("…"))
        #expect(title.dropLast().allSatisfy { $0 == "👩‍👩‍👧" })
        #expect(ConversationsHandler.title("\n \n  Real title\nmore") == .string("Real title"), "blank lines are skipped")
    }

    /// A character may carry any number of combining marks: a title stays small all the same.
    @Test func aTitleIsBoundedInCodePointsToo() throws {
        let marked = String(repeating: "a" + String(repeating: "\u{0301}", count: 50), count: 30)
        guard case .string(let title) = ConversationsHandler.title(marked) else { Issue.record("no title"); return }
        #expect(title.unicodeScalars.count <= ConversationsHandler.titleScalarLimit)
        #expect(title.hasSuffix("…"))
        #expect(title.count == 10, "nine marked letters fit in 480 code points")
        #expect(title.dropLast().allSatisfy { $0.unicodeScalars.count == 51 }, "whole characters only")
    }
}
