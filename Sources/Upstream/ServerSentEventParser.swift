/// An incremental `text/event-stream` parser, after the WHATWG HTML "event stream interpretation".
///
/// Feed it the body in chunks of any size, split anywhere, and it returns the events that each
/// chunk completes. Lines end with CRLF, LF or a lone CR (also a CR ending one chunk and an LF
/// starting the next); a leading UTF-8 BOM is dropped; `retry` and unknown fields are ignored.
/// Bytes are buffered per line and decoded as UTF-8 once the line is whole, so a character
/// split across chunks comes out intact. It departs from the standard in one way: `finish()`
/// also dispatches an event that the stream did not end with a blank line.
public struct ServerSentEventParser: Sendable {
    public enum Error: Swift.Error, Sendable, Equatable {
        /// A line grew beyond `maxLineBytes`; the parser cannot continue this stream.
        case lineTooLong(limit: Int)
    }

    /// The longest line buffered, in bytes, without its line break.
    public let maxLineBytes: Int
    /// The bytes of the current line that earlier chunks left unterminated.
    private var line: [UInt8] = []
    /// The previous chunk ended with a CR, so an LF starting the next one ends no line.
    private var afterCR = false
    /// How many bytes of a BOM were seen at the very start of the stream, or nil once past it.
    private var bomMatched: Int? = 0
    private var pending = PendingEvent()

    private static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
    private static let cr: UInt8 = 0x0D
    private static let lf: UInt8 = 0x0A

    public init(maxLineBytes: Int = 1 << 20) {
        self.maxLineBytes = maxLineBytes
    }

    /// Parses the next chunk of the stream and returns the events it completes.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(Error) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        let result: Result<Void, Error>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(Error) in try scan(buffer, into: &events) }
        }
        switch result {
        case .success?:
            break
        case .failure(let error)?:
            throw error
        case nil:
            try Array(bytes).withUnsafeBufferPointer { (buffer) throws(Error) in try scan(buffer, into: &events) }
        }
        return events
    }

    /// Ends the stream: handles an unterminated last line, returns the event still pending (if
    /// it has data), and resets the parser for a new stream.
    public mutating func finish() -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        if let matched = bomMatched, matched > 0 {
            line.append(contentsOf: Self.bom[..<matched])
        }
        if !line.isEmpty, let event = line.withUnsafeBufferPointer({ pending.apply($0) }) {
            events.append(event)
        }
        if let event = pending.dispatch() {
            events.append(event)
        }
        self = Self(maxLineBytes: maxLineBytes)
        return events
    }

    private mutating func scan(_ buffer: UnsafeBufferPointer<UInt8>, into events: inout [ServerSentEvent]) throws(Error) {
        var index = 0
        if let matched = bomMatched {
            var count = matched
            while count < Self.bom.count, index < buffer.count, buffer[index] == Self.bom[count] {
                count += 1
                index += 1
            }
            if count == Self.bom.count {
                bomMatched = nil
            } else if index < buffer.count {
                // Not a BOM after all: what looked like its start is content.
                line.append(contentsOf: Self.bom[..<count])
                bomMatched = nil
            } else {
                bomMatched = count
                return
            }
        }
        if afterCR, index < buffer.count {
            afterCR = false
            if buffer[index] == Self.lf { index += 1 }
        }
        var start = index
        while index < buffer.count {
            let byte = buffer[index]
            guard byte == Self.cr || byte == Self.lf else {
                index += 1
                continue
            }
            let event: ServerSentEvent?
            if line.isEmpty {
                guard index - start <= maxLineBytes else { throw .lineTooLong(limit: maxLineBytes) }
                event = pending.apply(UnsafeBufferPointer(rebasing: buffer[start..<index]))
            } else {
                try append(buffer[start..<index])
                event = line.withUnsafeBufferPointer { pending.apply($0) }
                line.removeAll(keepingCapacity: true)
            }
            if let event { events.append(event) }
            index += 1
            if byte == Self.cr {
                if index == buffer.count {
                    afterCR = true
                } else if buffer[index] == Self.lf {
                    index += 1
                }
            }
            start = index
        }
        try append(buffer[start...])
    }

    private mutating func append(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) throws(Error) {
        guard line.count + bytes.count <= maxLineBytes else {
            line.removeAll()
            throw .lineTooLong(limit: maxLineBytes)
        }
        line.append(contentsOf: bytes)
    }

    /// The buffers of the event being built.
    private struct PendingEvent {
        var data: [UInt8] = []
        var type: String?
        var id: String?

        /// Interprets one line (without its line break); an empty line dispatches.
        mutating func apply(_ line: UnsafeBufferPointer<UInt8>) -> ServerSentEvent? {
            let colon = UInt8(ascii: ":")
            guard let first = line.first else { return dispatch() }
            guard first != colon else { return nil }
            let field: UnsafeBufferPointer<UInt8>
            var valueStart: Int
            if let index = line.firstIndex(of: colon) {
                field = UnsafeBufferPointer(rebasing: line[..<index])
                valueStart = index + 1
                if valueStart < line.count, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
            } else {
                field = line
                valueStart = line.count
            }
            let value = UnsafeBufferPointer(rebasing: line[valueStart...])
            if field.elementsEqual("data".utf8) {
                data.append(contentsOf: value)
                data.append(UInt8(ascii: "\n"))
            } else if field.elementsEqual("event".utf8) {
                type = value.isEmpty ? nil : String(decoding: value, as: UTF8.self)
            } else if field.elementsEqual("id".utf8), !value.contains(0) {
                id = value.isEmpty ? nil : String(decoding: value, as: UTF8.self)
            }
            return nil
        }

        /// Ends the event: returns it if it has data, and clears all but the last event id.
        mutating func dispatch() -> ServerSentEvent? {
            defer {
                data.removeAll(keepingCapacity: true)
                type = nil
            }
            guard !data.isEmpty else { return nil }
            return ServerSentEvent(event: type, data: String(decoding: data.dropLast(), as: UTF8.self), id: id)
        }
    }
}
