#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// RFC 3339 timestamps in UTC, without Foundation's formatters.
public enum RFC3339 {
    /// `2026-11-26T16:04:16Z`.
    public static func format(_ date: Date) -> String {
        format(seconds: Int(date.timeIntervalSince1970.rounded(.down)), milliseconds: nil)
    }

    /// `2026-11-26T16:04:16Z`, or `2026-11-26T16:04:16.123Z` with `milliseconds`.
    public static func format(seconds: Int, milliseconds: Int?) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let fraction = milliseconds.map { "." + pad(Int32($0), 3) } ?? ""
        return pad(parts.tm_year + 1900, 4) + "-" + pad(parts.tm_mon + 1, 2) + "-" + pad(parts.tm_mday, 2) + "T"
            + pad(parts.tm_hour, 2) + ":" + pad(parts.tm_min, 2) + ":" + pad(parts.tm_sec, 2) + fraction + "Z"
    }
}
