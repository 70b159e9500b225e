#if canImport(Glibc)
import Glibc
#endif
import HTTP
import JSON
import Logging

/// A swift-log handler that writes one JSON object per line to a `LogSink` (stderr, which
/// journald collects), for journald's and Loki's JSON parsers (`ASKD_LOG_FORMAT=json`):
///
///     {"time":"2026-11-26T15:30:05.123Z","level":"info","logger":"askd","message":"request","request_id":"...","method":"GET",...}
///
/// The metadata are members of the object, after `time`, `level`, `logger` and `message`,
/// sorted by key; one that would take one of those four names is written as `field_<name>`. A
/// number given as a number (`.stringConvertible(200)`) is written as a JSON number.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let sink: LogSink
    private static let reserved: Set<String> = ["time", "level", "logger", "message"]

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
        let now = LineLogHandler.now()
        entry += #"{"time":""#.utf8
        RFC3339.append(seconds: Int(now.tv_sec), milliseconds: Int(now.tv_nsec / 1_000_000), to: &entry)
        entry += #"","level":"#.utf8
        JSONString.appendQuoted(level.rawValue, to: &entry)
        entry += #","logger":"#.utf8
        JSONString.appendQuoted(label, to: &entry)
        entry += #","message":"#.utf8
        JSONString.appendQuoted(message.description, to: &entry)
        let fields = explicit.map { self.metadata.merging($0) { $1 } } ?? self.metadata
        for key in fields.keys.sorted() {
            entry.append(UInt8(ascii: ","))
            JSONString.appendQuoted(Self.reserved.contains(key) ? "field_" + key : key, to: &entry)
            entry.append(UInt8(ascii: ":"))
            Self.append(fields[key]!, to: &entry)
        }
        entry += "}\n".utf8
        sink.write(entry, waitUntilWritten: level >= .notice)
    }

    static func append(_ value: Logger.Metadata.Value, to out: inout [UInt8]) {
        switch value {
        case .string(let text):
            JSONString.appendQuoted(text, to: &out)
        case .stringConvertible(let convertible):
            let text = convertible.description
            if (convertible is any BinaryInteger || convertible is Double) && isJSONNumber(text) {
                out += text.utf8
            } else {
                JSONString.appendQuoted(text, to: &out)
            }
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                append(value, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .dictionary(let values):
            out.append(UInt8(ascii: "{"))
            for (index, key) in values.keys.sorted().enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONString.appendQuoted(key, to: &out)
                out.append(UInt8(ascii: ":"))
                append(values[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Whether `text` is a finite decimal number as JSON writes it (no `nan`, `inf`, or `1e+20`
    /// without a digit check): digits with an optional sign, fraction and exponent.
    private static func isJSONNumber(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        guard let first = bytes.first, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return bytes.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }
    }
}
