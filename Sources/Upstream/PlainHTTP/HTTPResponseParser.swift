/// One HTTP/1.x response read from bytes as they arrive: the status line, the few headers askd
/// needs, and a body delimited by `Content-Length`, by the chunked coding, or by the end of the
/// connection. Interim (1xx) responses are skipped.
struct HTTPResponseParser {
    enum Failure: Error, Equatable {
        case malformed(String)
        case tooLarge(limit: Int)
    }

    /// The status line and headers of the final response.
    struct Head: Equatable {
        var status = 0
        var keepAlive = true
        var retryAfter: String?
        var contentType: String?
        var contentLength: Int?
        var chunked = false
    }

    private enum State: Equatable {
        case head
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkEnd
        case trailers
        case untilClose
        case done
    }

    /// The most bytes of status lines and headers (interim responses' included), and of trailers.
    static let headLimit = 64 << 10
    /// The longest chunk-size line (extensions included).
    static let chunkLineLimit = 4 << 10

    let bodyLimit: Int
    private(set) var head: Head?
    private(set) var body: [UInt8] = []
    /// Whether any byte of a response has arrived.
    private(set) var started = false
    private var buffer: [UInt8] = []
    private var state = State.head
    /// Where in `buffer` the search for the end of the current line or head goes on: bytes
    /// before it were looked at already, so a head that arrives a byte at a time costs no more
    /// than one that arrives whole.
    private var scanned = 0
    /// Bytes of heads and trailers read so far, against `headLimit`.
    private var overhead = 0

    init(bodyLimit: Int) {
        self.bodyLimit = bodyLimit
    }

    var isComplete: Bool { state == .done }

    /// Whether the connection may carry another request: the response said so, and nothing
    /// followed it.
    var connectionReusable: Bool { state == .done && head?.keepAlive == true && buffer.isEmpty }

    /// Takes the next bytes; true once the response is complete.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Bool {
        if !bytes.isEmpty { started = true }
        if state == .untilClose {
            try appendBody(bytes)
            return false
        }
        buffer.append(contentsOf: bytes)
        try advance()
        return state == .done
    }

    /// The connection ended: true when that completes a body that runs to the connection's end.
    mutating func connectionClosed() -> Bool {
        if state == .untilClose { state = .done }
        return state == .done
    }

    private mutating func advance() throws(Failure) {
        var position = 0
        defer {
            buffer.removeSubrange(0..<position)
            scanned = max(0, scanned - position)
        }
        while true {
            switch state {
            case .head:
                guard let end = Self.endOfHead(in: buffer, from: max(position, scanned - 3)) else {
                    scanned = buffer.count
                    guard overhead + buffer.count - position <= Self.headLimit else { throw .tooLarge(limit: Self.headLimit) }
                    return
                }
                overhead += end + 4 - position
                guard overhead <= Self.headLimit else { throw .tooLarge(limit: Self.headLimit) }
                let parsed = try Self.parseHead(buffer[position..<end])
                position = end + 4
                scanned = position
                // An interim response (100 Continue, 103 Early Hints): the final one follows.
                if (100..<200).contains(parsed.status) { continue }
                head = parsed
                if parsed.status == 204 || parsed.status == 304 {
                    state = .done
                } else if parsed.chunked {
                    state = .chunkSize
                } else if let length = parsed.contentLength {
                    guard length <= bodyLimit else { throw .tooLarge(limit: bodyLimit) }
                    state = length == 0 ? .done : .body(remaining: length)
                } else {
                    head?.keepAlive = false
                    state = .untilClose
                    try appendBody(buffer[position...])
                    position = buffer.count
                    return
                }
            case .body(let remaining), .chunkData(let remaining):
                let count = min(remaining, buffer.count - position)
                try appendBody(buffer[position..<(position + count)])
                position += count
                let left = remaining - count
                if case .body = state {
                    state = left == 0 ? .done : .body(remaining: left)
                } else {
                    state = left == 0 ? .chunkEnd : .chunkData(remaining: left)
                }
                if left > 0 { return }
            case .chunkSize:
                guard let line = try nextLine(from: &position, limit: Self.chunkLineLimit) else { return }
                guard let size = Self.hexadecimal(Self.trimmed(line.prefix { $0 != UInt8(ascii: ";") })) else {
                    throw .malformed("a bad chunk size")
                }
                guard body.count + size <= bodyLimit else { throw .tooLarge(limit: bodyLimit) }
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkEnd:
                guard let line = try nextLine(from: &position, limit: Self.chunkLineLimit) else { return }
                guard line.isEmpty else { throw .malformed("a chunk longer than its size") }
                state = .chunkSize
            case .trailers:
                let start = position
                guard let line = try nextLine(from: &position, limit: Self.headLimit - overhead) else { return }
                overhead += position - start
                if line.isEmpty { state = .done }
            case .untilClose, .done:
                return
            }
        }
    }

    private mutating func appendBody(_ bytes: some Collection<UInt8>) throws(Failure) {
        guard body.count + bytes.count <= bodyLimit else { throw .tooLarge(limit: bodyLimit) }
        body.append(contentsOf: bytes)
    }

    /// The next line without its CRLF, or nil until it has arrived whole; a longer line than
    /// `limit` bytes is refused.
    private mutating func nextLine(from position: inout Int, limit: Int) throws(Failure) -> ArraySlice<UInt8>? {
        // A chunk line's own limit, or what is left of the head budget (trailers).
        let reported = limit == Self.chunkLineLimit ? Self.chunkLineLimit : Self.headLimit
        guard let newline = buffer[max(position, scanned)...].firstIndex(of: UInt8(ascii: "\n")) else {
            scanned = buffer.count
            guard buffer.count - position <= limit else { throw .tooLarge(limit: reported) }
            return nil
        }
        guard newline - position < limit else { throw .tooLarge(limit: reported) }
        var line = buffer[position..<newline]
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        position = newline + 1
        scanned = position
        return line
    }

    /// Where the blank line that ends a head begins.
    private static func endOfHead(in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count - start >= 4 else { return nil }
        var index = start
        while index + 3 < bytes.count {
            if bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 { return index }
            index += 1
        }
        return nil
    }

    private static func parseHead(_ bytes: ArraySlice<UInt8>) throws(Failure) -> Head {
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).makeIterator()
        guard let statusLine = lines.next().map(trimmed) else { throw .malformed("a bad status line") }
        // "HTTP/1.x NNN reason": the version's minor digit, then three digits of status.
        let start = statusLine.startIndex
        guard statusLine.count >= 12, statusLine.starts(with: "HTTP/1.".utf8), statusLine[start + 8] == UInt8(ascii: " "),
            statusLine.count == 12 || statusLine[start + 12] == UInt8(ascii: " "),
            let status = decimal(statusLine[(start + 9)..<(start + 12)]), status >= 100
        else { throw .malformed("a bad status line") }
        let http10 = statusLine[start + 7] == UInt8(ascii: "0")
        var head = Head(status: status, keepAlive: !http10)
        while let line = lines.next() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw .malformed("a header line without a colon") }
            let name = line[..<colon]
            let value = trimmed(line[(colon + 1)...])
            if equalsIgnoringCase(name, "content-length") {
                guard let length = decimal(value), head.contentLength == nil || head.contentLength == length else {
                    throw .malformed("a bad Content-Length")
                }
                head.contentLength = length
            } else if equalsIgnoringCase(name, "transfer-encoding") {
                // Only chunked alone: askd undoes no other coding.
                guard equalsIgnoringCase(value, "chunked") else { throw .malformed("a transfer coding other than chunked") }
                head.chunked = true
            } else if equalsIgnoringCase(name, "connection") {
                for option in value.split(separator: UInt8(ascii: ",")).map(trimmed) {
                    if equalsIgnoringCase(option, "close") { head.keepAlive = false }
                    if equalsIgnoringCase(option, "keep-alive") && http10 { head.keepAlive = true }
                }
            } else if equalsIgnoringCase(name, "retry-after") {
                head.retryAfter = String(decoding: value, as: UTF8.self)
            } else if equalsIgnoringCase(name, "content-type") {
                head.contentType = String(decoding: value, as: UTF8.self)
            }
        }
        // A chunked body's length is its coding's, whatever Content-Length says; such an answer
        // may be a smuggling attempt, so its connection is not kept (RFC 9112 6.3).
        if head.chunked && head.contentLength != nil {
            head.contentLength = nil
            head.keepAlive = false
        }
        return head
    }

    /// The bytes without leading and trailing spaces, tabs and a carriage return.
    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let blank: (UInt8) -> Bool = { $0 == 32 || $0 == 9 || $0 == 13 }
        guard let first = bytes.firstIndex(where: { !blank($0) }), let last = bytes.lastIndex(where: { !blank($0) }) else { return [] }
        return bytes[first...last]
    }

    /// Whether `bytes` spell `lowercase` in any case (ASCII).
    private static func equalsIgnoringCase(_ bytes: ArraySlice<UInt8>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { byte, wanted in (byte >= 65 && byte <= 90 ? byte | 0x20 : byte) == wanted }
        }
    }

    /// A hexadecimal number of up to 15 digits, nothing else.
    private static func hexadecimal(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 15 else { return nil }
        var value = 0
        for byte in bytes {
            let digit: UInt8
            switch byte {
            case 48...57: digit = byte - 48
            case 65...70: digit = byte - 55
            case 97...102: digit = byte - 87
            default: return nil
            }
            value = value * 16 + Int(digit)
        }
        return value
    }

    /// A decimal number of up to 15 digits, nothing else.
    private static func decimal(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 15 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= 48 && byte <= 57 else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }
}
