import HTTP

/// The `BodyWriter` a streaming handler writes to: the head goes out with the first chunk,
/// and every chunk is flushed to the web server at once.
final class StreamBodyWriter: BodyWriter {
    private let writer: ResponseWriter
    private let status: HTTPStatus
    private let headers: HTTPHeaders
    private(set) var headSent = false
    private(set) var clientGone = false

    init(writer: ResponseWriter, status: HTTPStatus, headers: HTTPHeaders) {
        self.writer = writer
        self.status = status
        self.headers = headers
    }

    func write(_ bytes: [UInt8]) throws {
        guard !clientGone else { throw ClientDisconnected() }
        sendHeadIfNeeded()
        writer.put(bytes)
        guard writer.flush() else {
            clientGone = true
            throw ClientDisconnected()
        }
    }

    func sendHeadIfNeeded() {
        guard !headSent else { return }
        headSent = true
        writer.writeHead(status: status, headers: headers, contentLength: nil)
    }
}
