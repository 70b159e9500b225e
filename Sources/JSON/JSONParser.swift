/// Reads one JSON text (RFC 8259) from UTF-8 bytes into a `JSONValue`.
///
/// Request bodies are parsed here rather than through `Decodable`: the fields of a body are
/// checked one by one for the right error message anyway, and this is several times cheaper
/// than probing each value's type with a decoder. Nesting is bounded, because parsing recurses
/// and a worker's stack is small.
public struct JSONParser {
    public enum Failure: Error, Equatable, Sendable {
        /// Not JSON; `offset` is the byte where reading stopped.
        case invalid(offset: Int)
        /// Arrays and objects nest deeper than allowed.
        case tooDeep
    }

    private let bytes: [UInt8]
    private let maxDepth: Int
    private var index = 0
    private var depth = 0

    /// The value in `bytes`, which must be valid UTF-8 holding one JSON value and nothing else
    /// but whitespace.
    public static func parse(_ bytes: [UInt8], maxDepth: Int) throws(Failure) -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        let value = try parser.value()
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw .invalid(offset: parser.index) }
        return value
    }

    /// Checks that `bytes` hold what `parse` would read, without building the value: for a body
    /// passed on as it is, of which only a few members are read (`JSONMembers`).
    public static func validate(_ bytes: [UInt8], maxDepth: Int) throws(Failure) {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        try parser.skipValue()
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw .invalid(offset: parser.index) }
    }

    private init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private mutating func value() throws(Failure) -> JSONValue {
        skipWhitespace()
        guard index < bytes.count else { throw .invalid(offset: index) }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return .number(try number())
        }
    }

    private mutating func object() throws(Failure) -> JSONValue {
        try enterContainer()
        var fields: [String: JSONValue] = [:]
        skipWhitespace()
        if consume(UInt8(ascii: "}")) {
            depth -= 1
            return .object(fields)
        }
        repeat {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw .invalid(offset: index) }
            let key = try string()
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { throw .invalid(offset: index) }
            fields[key] = try value()
            skipWhitespace()
        } while consume(UInt8(ascii: ","))
        guard consume(UInt8(ascii: "}")) else { throw .invalid(offset: index) }
        depth -= 1
        return .object(fields)
    }

    private mutating func array() throws(Failure) -> JSONValue {
        try enterContainer()
        var elements: [JSONValue] = []
        skipWhitespace()
        if consume(UInt8(ascii: "]")) {
            depth -= 1
            return .array(elements)
        }
        repeat {
            elements.append(try value())
            skipWhitespace()
        } while consume(UInt8(ascii: ","))
        guard consume(UInt8(ascii: "]")) else { throw .invalid(offset: index) }
        depth -= 1
        return .array(elements)
    }

    /// `value()`'s checks, without the value.
    private mutating func skipValue() throws(Failure) {
        skipWhitespace()
        guard index < bytes.count else { throw .invalid(offset: index) }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            try enterContainer()
            skipWhitespace()
            if !consume(UInt8(ascii: "}")) {
                repeat {
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw .invalid(offset: index) }
                    try skipString()
                    skipWhitespace()
                    guard consume(UInt8(ascii: ":")) else { throw .invalid(offset: index) }
                    try skipValue()
                    skipWhitespace()
                } while consume(UInt8(ascii: ","))
                guard consume(UInt8(ascii: "}")) else { throw .invalid(offset: index) }
            }
            depth -= 1
        case UInt8(ascii: "["):
            try enterContainer()
            skipWhitespace()
            if !consume(UInt8(ascii: "]")) {
                repeat {
                    try skipValue()
                    skipWhitespace()
                } while consume(UInt8(ascii: ","))
                guard consume(UInt8(ascii: "]")) else { throw .invalid(offset: index) }
            }
            depth -= 1
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: _ = try number()
        }
    }

    /// `string()`'s checks, without the string.
    private mutating func skipString() throws(Failure) {
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""): return
            case UInt8(ascii: "\\"): _ = try escape()
            case ..<0x20: throw .invalid(offset: index - 1)
            default: break
            }
        }
        throw .invalid(offset: index)
    }

    private mutating func enterContainer() throws(Failure) {
        depth += 1
        guard depth <= maxDepth else { throw .tooDeep }
        index += 1
    }

    /// A string starting at the opening quote; `index` ends past the closing quote.
    private mutating func string() throws(Failure) -> String {
        index += 1
        let start = index
        // The common case: no escapes, so the bytes between the quotes are the string.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return String(decoding: bytes[start..<index - 1], as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw .invalid(offset: index) }
            index += 1
        }
        // With escapes: the UTF-8 of the string is gathered as bytes and decoded once at the end,
        // in time linear in their number (appending to a String.UnicodeScalarView is not).
        var utf8 = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                utf8.append(contentsOf: UTF8.encode(try escape())!)
            case ..<0x20:
                throw .invalid(offset: index - 1)
            default:
                utf8.append(byte)
            }
        }
        throw .invalid(offset: index)
    }

    /// The character after a backslash; `index` is just past the backslash.
    private mutating func escape() throws(Failure) -> Unicode.Scalar {
        guard index < bytes.count else { throw .invalid(offset: index) }
        let byte = bytes[index]
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try hexUnit()
            switch unit {
            case 0xD800...0xDBFF:
                // A high surrogate must be followed by an escaped low one.
                guard consume(UInt8(ascii: "\\")), consume(UInt8(ascii: "u")) else { throw .invalid(offset: index) }
                let low = try hexUnit()
                guard (0xDC00...0xDFFF).contains(low) else { throw .invalid(offset: index) }
                return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!
            case 0xDC00...0xDFFF:
                throw .invalid(offset: index)
            default:
                return Unicode.Scalar(unit)!
            }
        default:
            throw .invalid(offset: index - 1)
        }
    }

    private mutating func hexUnit() throws(Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw .invalid(offset: index) }
        var unit: UInt32 = 0
        for byte in bytes[index..<index + 4] {
            let digit: UInt8 = switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: throw .invalid(offset: index)
            }
            unit = unit << 4 | UInt32(digit)
        }
        index += 4
        return unit
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    private mutating func number() throws(Failure) -> Double {
        let start = index
        _ = consume(UInt8(ascii: "-"))
        if consume(UInt8(ascii: "0")) {
            // No leading zeros.
        } else {
            guard digits() > 0 else { throw .invalid(offset: start) }
        }
        if consume(UInt8(ascii: ".")) {
            guard digits() > 0 else { throw .invalid(offset: index) }
        }
        if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
            if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
            guard digits() > 0 else { throw .invalid(offset: index) }
        }
        guard let number = Double(String(decoding: bytes[start..<index], as: UTF8.self)), number.isFinite else {
            throw .invalid(offset: start)
        }
        return number
    }

    private mutating func digits() -> Int {
        let start = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        return index - start
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count,
            bytes[index..<index + count].elementsEqual(UnsafeBufferPointer(start: word.utf8Start, count: count))
        else { throw .invalid(offset: index) }
        index += count
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }
}
