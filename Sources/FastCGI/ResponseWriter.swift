import CFastCGI
import HTTP

/// Writes a response to libfcgi's output stream as a CGI response: `Status:`, headers, body.
struct ResponseWriter {
    let stream: UnsafeMutablePointer<FCGX_Stream>

    /// Whether the client is still there: libfcgi reports a failed write only once, through
    /// the stream's error, so this is checked after every flush.
    var clientIsGone: Bool { FCGX_GetError(stream) != 0 }

    func writeHead(status: HTTPStatus, headers: HTTPHeaders, contentLength: Int?) {
        put(Self.head(status: status, headers: headers, contentLength: contentLength))
    }

    /// The CGI head of a response: `Status:`, the headers that are safe to send, and a blank line.
    static func head(status: HTTPStatus, headers: HTTPHeaders, contentLength: Int?) -> [UInt8] {
        var head = "Status: \(status.code) \(status.reason)\r\n"
        for (name, value) in headers where isSafe(name) && isSafe(value) {
            head += name
            head += ": "
            head += value
            head += "\r\n"
        }
        if let contentLength { head += "Content-Length: \(contentLength)\r\n" }
        head += "\r\n"
        return Array(head.utf8)
    }

    @discardableResult
    func put(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return true }
        // libfcgi takes an Int32 length: a larger body goes in pieces, never through a trapping conversion.
        return bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let count = Int32(clamping: buffer.count - offset)
                let start = (buffer.baseAddress! + offset).assumingMemoryBound(to: CChar.self)
                guard FCGX_PutStr(start, count, stream) == count else { return false }
                offset += Int(count)
            }
            return true
        }
    }

    /// Sends what is buffered; `false` if the client has gone away.
    func flush() -> Bool {
        FCGX_FFlush(stream)
        return !clientIsGone
    }

    /// Ends the response: what is buffered, the end of stdout and FCGI_END_REQUEST go out in
    /// one write(2), where a flush and then `FCGX_Finish_r` would take two (and wake the web
    /// server twice). `FCGX_Finish_r` then finds both streams closed and only frees the request.
    /// Returns `false` if the client has gone away (this write failed, or an earlier one did).
    func close(errorStream: UnsafeMutablePointer<FCGX_Stream>) -> Bool {
        // stderr first, as `FCGX_Finish_r` does: the last writer to close appends END_REQUEST.
        FCGX_FClose(errorStream)
        FCGX_FClose(stream)
        return !clientIsGone
    }

    /// A header line must not be able to start another: no CR, LF or NUL.
    private static func isSafe(_ text: String) -> Bool {
        !text.utf8.contains { $0 == 13 || $0 == 10 || $0 == 0 }
    }
}
