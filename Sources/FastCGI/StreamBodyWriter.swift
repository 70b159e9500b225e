import CLinux
import HTTP

/// The `BodyWriter` a streaming handler writes to: the head goes out with the first chunk,
/// and every chunk is flushed to the web server at once.
final class StreamBodyWriter: BodyWriter {
    private let writer: ResponseWriter
    private let status: HTTPStatus
    private let headers: HTTPHeaders
    /// The connection from the web server.
    private let descriptor: Int32
    private let state: ServerState
    private(set) var headSent = false
    private(set) var clientGone = false

    init(writer: ResponseWriter, status: HTTPStatus, headers: HTTPHeaders, descriptor: Int32, state: ServerState) {
        self.writer = writer
        self.descriptor = descriptor
        self.status = status
        self.headers = headers
        self.state = state
    }

    var mustEndNow: Bool { state.drainRanOut.load(ordering: .acquiring) }

    func write(_ bytes: [UInt8]) throws {
        guard !clientGone else { throw ClientDisconnected() }
        sendHeadIfNeeded()
        writer.put(bytes)
        guard writer.flush() else {
            clientGone = true
            throw ClientDisconnected()
        }
    }

    /// nginx closes its connection to askd when its client leaves (fastcgi_ignore_client_abort
    /// is off by default), which shows on the socket as a hang-up before any write fails.
    var clientIsGone: Bool {
        guard !clientGone else { return true }
        guard askd_peer_hung_up(descriptor) == 1 else { return false }
        clientGone = true
        return true
    }

    func sendHeadIfNeeded() {
        guard !headSent else { return }
        headSent = true
        writer.writeHead(status: status, headers: headers, contentLength: nil)
    }
}
