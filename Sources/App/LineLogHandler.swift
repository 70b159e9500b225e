#if canImport(Glibc)
import Glibc
#endif
import HTTP
import Logging

/// A swift-log handler that writes one plain line per entry to a `LogSink` (stderr, which
/// journald collects):
///
///     2026-11-26T15:30:05.123Z info askd: request method=GET path=/healthz status=200 ...
///
/// It is cheaper than `StreamLogHandler` on the request path: the line is built as bytes, UTC
/// timestamps need no time-zone lookup, and the sink writes the lines of many threads in one
/// write(2), from its own thread. Notices and anything worse are written before `log` returns.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let sink: LogSink

    public init(label: String, sink: LogSink = .standardError) {
        self.label = label
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
        source: String, file: String, function: String, line: UInt
    ) {
        var entry: [UInt8] = []
        entry.reserveCapacity(256)
        let now = Self.now()
        RFC3339.append(seconds: Int(now.tv_sec), milliseconds: Int(now.tv_nsec / 1_000_000), to: &entry)
        entry.append(UInt8(ascii: " "))
        entry += level.rawValue.utf8
        entry.append(UInt8(ascii: " "))
        entry += label.utf8
        entry += ": ".utf8
        entry += LogValue.singleLine(message.description).utf8
        if let explicit, !explicit.isEmpty {
            entry += Self.format(self.metadata.isEmpty ? explicit : self.metadata.merging(explicit) { $1 }).utf8
        } else if !self.metadata.isEmpty {
            entry += Self.format(self.metadata).utf8
        }
        entry.append(UInt8(ascii: "\n"))
        sink.write(entry, waitUntilWritten: level >= .notice)
    }

    /// ` key=value` pairs, sorted by key. Values with spaces, quotes or `=` are quoted.
    static func format(_ metadata: Logger.Metadata) -> String {
        guard !metadata.isEmpty else { return "" }
        var out = ""
        for key in metadata.keys.sorted() {
            out += " \(key)=\(LogValue.quotedIfNeeded("\(metadata[key]!)"))"
        }
        return out
    }

    static func now() -> timespec {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return time
    }

    /// RFC 3339 in UTC with milliseconds.
    static func timestamp(_ time: timespec) -> String {
        RFC3339.format(seconds: Int(time.tv_sec), milliseconds: Int(time.tv_nsec / 1_000_000))
    }
}
