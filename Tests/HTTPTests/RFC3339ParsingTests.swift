import Foundation
import HTTP
import Testing

@Suite struct RFC3339ParsingTests {
    @Test func readsWhatItWritesAndOffsets() {
        #expect(RFC3339.parse("2026-11-26T16:04:16Z") == Date(timeIntervalSince1970: 1_795_709_056))
        #expect(RFC3339.parse("2026-11-26T16:04:16.5Z") == Date(timeIntervalSince1970: 1_795_709_056.5))
        #expect(RFC3339.parse("2026-11-26T16:04:16.123456789Z") == Date(timeIntervalSince1970: 1_795_709_056.123))
        #expect(RFC3339.parse("2026-11-26T18:04:16+02:00") == Date(timeIntervalSince1970: 1_795_709_056))
        #expect(RFC3339.parse("2026-11-26T15:34:16-00:30") == Date(timeIntervalSince1970: 1_795_709_056))
        #expect(RFC3339.parse("1969-12-31T23:59:59.999Z") == Date(timeIntervalSince1970: -0.001))
    }

    @Test func refusesWhatIsNotADate() {
        for text in ["", "yesterday", "2026-11-26", "2026-11-26T16:04:16", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
                     "2026-11-26T24:00:00Z", "2026-11-26T16:04:16.Z", "2026-11-26T16:04:16Zjunk", "2026-11-26T16:04:16+2:00",
                     "+2026-11-26T16:04:16Z", "2026-11-26T16:04:16.1234567890Z"] {
            #expect(RFC3339.parse(text) == nil, "\(text)")
        }
    }
}
