#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// RFC 3339 timestamps in UTC, without Foundation's formatters.
public enum RFC3339 {
    /// The range a timestamp is written in: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
    package static let writable = -62_135_596_800...253_402_300_799

    /// `2026-11-26T16:04:16Z`; a date outside `writable` (or not finite) is written as its bound.
    public static func format(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        let bounded = seconds.isNaN ? 0 : min(max(seconds, Double(writable.lowerBound)), Double(writable.upperBound))
        return format(seconds: Int(bounded), milliseconds: nil)
    }

    /// `2026-11-26T16:04:16Z`, or `2026-11-26T16:04:16.123Z` with `milliseconds`.
    public static func format(seconds: Int, milliseconds: Int?) -> String {
        var bytes: [UInt8] = []
        append(seconds: seconds, milliseconds: milliseconds, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the timestamp `format` gives, digit by digit: log lines take one each.
    public static func append(seconds: Int, milliseconds: Int?, to bytes: inout [UInt8]) {
        var time = time_t(min(max(seconds, writable.lowerBound), writable.upperBound))
        var parts = tm()
        gmtime_r(&time, &parts)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        bytes.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        bytes.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        bytes.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        if let milliseconds {
            bytes.append(UInt8(ascii: "."))
            digits(min(max(milliseconds, 0), 999), 3)
        }
        bytes.append(UInt8(ascii: "Z"))
    }
}
