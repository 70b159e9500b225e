#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import HTTP

/// Reads one request's params and body from libfcgi's streams.
package enum RequestReader {
    /// Copies the params a `Request` is made of out of libfcgi's memory, which the next Finish or
    /// Accept frees. The rest (SERVER_SOFTWARE, SCRIPT_FILENAME, ...) are skipped unread.
    package static func parameters(_ envp: FCGX_ParamArray?) -> [(name: String, value: String)] {
        var params: [(name: String, value: String)] = []
        guard var cursor = envp else { return params }
        params.reserveCapacity(40)
        while let entry = cursor.pointee {
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                let buffer = UnsafeBufferPointer(start: bytes, count: length)
                if isUsed(buffer), let equals = buffer.firstIndex(of: UInt8(ascii: "=")) {
                    params.append((
                        String(decoding: UnsafeBufferPointer(rebasing: buffer[..<equals]), as: UTF8.self),
                        String(decoding: UnsafeBufferPointer(rebasing: buffer[(equals + 1)...]), as: UTF8.self)
                    ))
                }
            }
            cursor += 1
        }
        return params
    }

    /// Whether a `NAME=value` entry is one `RequestParameters` reads: HTTP_*, CONTENT_*,
    /// REQUEST_*, DOCUMENT_URI, QUERY_STRING or REMOTE_ADDR.
    private static func isUsed(_ entry: UnsafeBufferPointer<UInt8>) -> Bool {
        func starts(with prefix: StaticString) -> Bool {
            prefix.utf8CodeUnitCount <= entry.count
                && memcmp(entry.baseAddress!, prefix.utf8Start, prefix.utf8CodeUnitCount) == 0
        }
        switch entry.first {
        case UInt8(ascii: "H"): return starts(with: "HTTP_")
        case UInt8(ascii: "C"): return starts(with: "CONTENT_")
        case UInt8(ascii: "R"): return starts(with: "REQUEST_") || starts(with: "REMOTE_ADDR=")
        case UInt8(ascii: "D"): return starts(with: "DOCUMENT_URI=")
        case UInt8(ascii: "Q"): return starts(with: "QUERY_STRING=")
        default: return false
        }
    }

    /// Reads the body, at most `limit` bytes of it, and the end-of-stream record after it.
    ///
    /// The end record must be read too: libfcgi does not drain stdin when a request finishes,
    /// and on a kept-alive connection a leftover record would be taken for the next request.
    /// - Throws: `HTTPError` 413 as soon as the body is known to be over `limit`, without reading
    ///   the rest; 400 when the stream breaks off or does not match CONTENT_LENGTH. After either,
    ///   the connection must not be kept.
    package static func body(from stream: UnsafeMutablePointer<FCGX_Stream>, length: BodyLength, limit: Int) throws -> [UInt8] {
        switch length {
        case .exactly(let count):
            guard count <= limit else { throw HTTPError.contentTooLarge(limit: limit) }
            let body = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                initialized = count == 0 ? 0 : read(into: buffer.baseAddress!, count: count, from: stream)
            }
            guard body.count == count, FCGX_GetError(stream) == 0 else {
                throw HTTPError.badRequest("request body ended after \(body.count) of \(count) bytes")
            }
            guard FCGX_GetChar(stream) == -1, FCGX_GetError(stream) == 0 else {
                throw HTTPError.badRequest("request body is longer than its Content-Length of \(count) bytes")
            }
            return body
        case .untilEndOfStream:
            var body: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                // Read one byte past the limit, to tell "exactly at the limit" from "over it".
                let wanted = min(chunk.count, limit + 1 - body.count)
                let got = chunk.withUnsafeMutableBufferPointer { read(into: $0.baseAddress!, count: wanted, from: stream) }
                body.append(contentsOf: chunk[..<got])
                if body.count > limit { throw HTTPError.contentTooLarge(limit: limit) }
                if got < wanted {
                    // A short read is the end of the body only if the stream ended cleanly.
                    guard FCGX_GetError(stream) == 0 else { throw HTTPError.badRequest("request body was cut off") }
                    return body
                }
            }
        }
    }

    /// Reads up to `count` bytes; fewer only at the end of the stream.
    static func read(_ count: Int, from stream: UnsafeMutablePointer<FCGX_Stream>) -> [UInt8] {
        guard count > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = read(into: buffer.baseAddress!, count: count, from: stream)
        }
    }

    /// Reads up to `count` bytes; fewer only at the end of the stream.
    private static func read(into buffer: UnsafeMutablePointer<UInt8>, count: Int, from stream: UnsafeMutablePointer<FCGX_Stream>) -> Int {
        var total = 0
        while total < count {
            let wanted = Int32(min(count - total, Int(Int32.max)))
            let got = buffer.advanced(by: total).withMemoryRebound(to: CChar.self, capacity: Int(wanted)) {
                FCGX_GetStr($0, wanted, stream)
            }
            guard got > 0 else { break }
            total += Int(got)
        }
        return total
    }
}
