import FoundationEssentials
import HTTP
import Store

/// RFC 3339 timestamps and the stores' milliseconds. Input: seconds (8 bytes), milliseconds
/// (8 bytes), whether to write them (bit 0 of one byte), and a `Double` (8 bytes, its bits).
///
/// Invariants: any `Int` seconds and milliseconds format without trapping as
/// `YYYY-MM-DDTHH:MM:SS[.mmm]Z` with fields in range, naming the same instant as the seconds
/// clamped to years 0001-9999 (checked against a days-from-civil count of its own); any `Date`,
/// NaN and infinities included, formats as its whole seconds clamped the same way; a date's
/// milliseconds are within the stored range, and any in range convert to a `Date` and back unchanged.
public enum RFC3339Fuzz {
    static let earliestMilliseconds = Int64(RFC3339.writable.lowerBound) * 1000
    static let latestMilliseconds = Int64(RFC3339.writable.upperBound) * 1000 + 999

    public static func check(_ bytes: [UInt8]) {
        var input = FuzzReader(bytes)
        let seconds = Int(truncatingIfNeeded: input.uint64())
        let milliseconds = input.byte() & 1 == 1 ? Int(truncatingIfNeeded: input.uint64()) : nil
        let interval = Double(bitPattern: input.uint64())

        let text = RFC3339.format(seconds: seconds, milliseconds: milliseconds)
        let clamped = min(max(seconds, RFC3339.writable.lowerBound), RFC3339.writable.upperBound)
        let parsed = parse(text)
        require(parsed?.seconds == clamped, "\(seconds) s formats as \(text), read back as \(parsed.map { "\($0.seconds)" } ?? "nothing")")
        require(parsed?.milliseconds == milliseconds.map { min(max($0, 0), 999) }, "\(milliseconds.debugDescription) ms formats as \(text)")
        var appended = Array("x".utf8)
        RFC3339.append(seconds: seconds, milliseconds: milliseconds, to: &appended)
        require(appended == Array("x\(text)".utf8), "append and format differ")

        // A `Date` keeps seconds since 2001, so a tiny interval since 1970 reads back as 0.
        let date = Date(timeIntervalSince1970: interval)
        let since1970 = date.timeIntervalSince1970
        let whole = since1970.isNaN ? 0 : min(max(since1970.rounded(.down), Double(RFC3339.writable.lowerBound)), Double(RFC3339.writable.upperBound))
        let dateText = RFC3339.format(date)
        require(dateText == RFC3339.format(seconds: Int(whole), milliseconds: nil), "\(interval) formats as \(dateText)")

        let stored = date.milliseconds
        require((earliestMilliseconds...latestMilliseconds).contains(stored), "\(interval) s is \(stored) ms")
        let inRange = min(max(Int64(truncatingIfNeeded: seconds), earliestMilliseconds), latestMilliseconds)
        require(Date(milliseconds: inRange).milliseconds == inRange, "\(inRange) ms does not convert back")
    }

    /// The seconds since 1970 and the milliseconds a well-formed timestamp names, or nil for any
    /// other text.
    private static func parse(_ text: String) -> (seconds: Int, milliseconds: Int?)? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20 || bytes.count == 24, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            guard bytes[range].allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            return bytes[range].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        }
        let separators: [(Int, Character)] = [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")]
        guard separators.allSatisfy({ bytes[$0.0] == $0.1.asciiValue }),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...9999).contains(year), (1...12).contains(month), hour < 24, minute < 60, second < 60
        else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...monthDays[month - 1]).contains(day) else { return nil }
        var milliseconds: Int?
        if bytes.count == 24 {
            guard bytes[19] == UInt8(ascii: "."), let value = number(20..<23) else { return nil }
            milliseconds = value
        }
        // Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return (days * 86_400 + hour * 3_600 + minute * 60 + second, milliseconds)
    }
}
