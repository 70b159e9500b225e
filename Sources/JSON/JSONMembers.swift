/// The top-level members of a JSON object, each as its key and the raw bytes of its value: for
/// changing a few members of a body and passing every other one on byte for byte (numbers,
/// spacing and member order included, which a round trip through `JSONValue` would not keep).
///
/// Only for bytes that `JSONParser` has already read as an object: the scan here checks nothing.
public struct JSONMembers: Sendable {
    /// The members in their order; a key the object repeats appears as often as it does.
    public private(set) var members: [(key: String, value: ArraySlice<UInt8>)] = []

    /// The members of `bytes`; nil when `bytes` is not an object.
    public init?(_ bytes: [UInt8]) {
        var scanner = Scanner(bytes: bytes)
        scanner.skipWhitespace()
        guard scanner.take(UInt8(ascii: "{")) else { return nil }
        scanner.skipWhitespace()
        if scanner.take(UInt8(ascii: "}")) { return }
        while scanner.index < bytes.count {
            scanner.skipWhitespace()
            let keyStart = scanner.index
            scanner.skipString()
            guard let key = Self.key(bytes[keyStart..<scanner.index]) else { return nil }
            scanner.skipWhitespace()
            guard scanner.take(UInt8(ascii: ":")) else { return nil }
            scanner.skipWhitespace()
            let valueStart = scanner.index
            scanner.skipValue()
            members.append((key, bytes[valueStart..<scanner.index]))
            scanner.skipWhitespace()
            if scanner.take(UInt8(ascii: "}")) { return }
            guard scanner.take(UInt8(ascii: ",")) else { return nil }
        }
        return nil
    }

    /// The raw value of the last member named `key` (the one `JSONParser` keeps).
    public subscript(key: String) -> ArraySlice<UInt8>? {
        members.last { $0.key == key }?.value
    }

    /// Gives `key` the value `raw` (JSON text): in the place of its first member, with any repeat
    /// removed, or as a new last member.
    public mutating func set(_ key: String, raw: [UInt8]) {
        guard let first = members.firstIndex(where: { $0.key == key }) else {
            members.append((key, raw[...]))
            return
        }
        members[first].value = raw[...]
        var index = members.count - 1
        while index > first {
            if members[index].key == key { members.remove(at: index) }
            index -= 1
        }
    }

    /// Removes every member named `key`.
    public mutating func remove(_ key: String) {
        members.removeAll { $0.key == key }
    }

    /// The object again: each member's value as it was read, or as `set` gave it.
    public var serialized: [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(members.reduce(2) { $0 + $1.key.utf8.count + $1.value.count + 4 })
        for (offset, member) in members.enumerated() {
            if offset > 0 { out.append(UInt8(ascii: ",")) }
            JSONString.appendQuoted(member.key, to: &out)
            out.append(UInt8(ascii: ":"))
            out += member.value
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A key as text: most have no escapes and are read as they are.
    private static func key(_ raw: ArraySlice<UInt8>) -> String? {
        guard raw.count >= 2, raw.first == UInt8(ascii: "\""), raw.last == UInt8(ascii: "\"") else { return nil }
        if !raw.contains(UInt8(ascii: "\\")) { return String(decoding: raw.dropFirst().dropLast(), as: UTF8.self) }
        return (try? JSONParser.parse(Array(raw), maxDepth: 1))?.string
    }

    /// Walks over valid JSON without reading it.
    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        static func isSpace(_ byte: UInt8) -> Bool {
            byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        mutating func skipWhitespace() {
            while index < bytes.count, Self.isSpace(bytes[index]) { index += 1 }
        }

        /// From an opening quote to just past its closing one.
        mutating func skipString() {
            index += 1
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\\"): index += 2
                case UInt8(ascii: "\""): index += 1; return
                default: index += 1
                }
            }
        }

        mutating func skipValue() {
            guard index < bytes.count else { return }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while index < bytes.count {
                    switch bytes[index] {
                    case UInt8(ascii: "\""):
                        skipString()
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            index += 1
                            return
                        }
                    default: break
                    }
                    index += 1
                }
            default:
                // A number or a literal: up to the next delimiter.
                while index < bytes.count, !Self.isSpace(bytes[index]), bytes[index] != UInt8(ascii: ","),
                    bytes[index] != UInt8(ascii: "}"), bytes[index] != UInt8(ascii: "]")
                {
                    index += 1
                }
            }
        }
    }
}
