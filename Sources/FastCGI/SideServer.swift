#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import HTTP
import Platform

/// Serves an `Application` on a socket of its own, from one thread, one request at a time, each
/// on a connection of its own: for the per-process metrics socket (`ASKD_METRICS_SOCKET`).
///
/// Several askd processes may accept on one socket (askd@N under systemd), where a scrape
/// reaches any one of them; through this socket it reaches this process. Only answers with a
/// body of bytes are sent; a streamed or deferred one becomes a 500. A peer silent for
/// `readTimeoutSeconds` loses its connection, so it cannot hold the thread.
public final class SideServer: Sendable {
    let socket: ListeningSocket
    let application: Application
    private static let readTimeoutSeconds = 5

    public init(socket: ListeningSocket, application: Application) {
        self.socket = socket
        self.application = application
    }

    /// Starts the thread. Call it after `FastCGIServer.holdSignals()`, so that the thread blocks
    /// the stop signals as every other does.
    public func start() throws {
        guard FCGX_Init() == 0 else { throw SystemError("FCGX_Init", code: EIO) }
        // Accepted connections inherit the timeout (and accept itself wakes up at that pace).
        var timeout = timeval(tv_sec: Self.readTimeoutSeconds, tv_usec: 0)
        guard setsockopt(socket.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw SystemError("setsockopt(SO_RCVTIMEO)")
        }
        try DetachedThread.start(name: "askd-side", stackSize: 512 << 10) { self.run() }
    }

    private func run() {
        let request = KeptRequest.make(listenFD: socket.fd)
        while true {
            guard FCGX_Accept_r(request) >= 0 else { continue }
            request.pointee.keepConnection = 0
            serve(request)
            FCGX_Finish_r(request)
        }
    }

    private func serve(_ request: UnsafeMutablePointer<FCGX_Request>) {
        let started = MonotonicClock.now()
        var (incoming, bodyLength) = RequestReader.parameters(request.pointee.envp).withUnsafeBufferPointer {
            RequestParameters.request(from: Array($0))
        }
        var response: Response
        do {
            let length = try bodyLength.get()
            incoming.body = try RequestReader.body(from: request.pointee.in, length: length, limit: 1 << 16)
            response = application.respond(to: &incoming)
        } catch {
            response = application.respond(to: &incoming, failingWith: error)
        }
        if case .bytes = response.body {} else {
            response = application.errorResponse(for: SideServerAnswersBytesOnly(), request: incoming)
        }
        send(response, for: incoming, on: request, started: started)
    }

    private func send(_ response: Response, for incoming: Request, on request: UnsafeMutablePointer<FCGX_Request>, started: Double) {
        let writer = ResponseWriter(stream: request.pointee.out)
        if case .bytes(let bytes) = response.body {
            writer.writeHead(status: response.status, headers: response.headers, contentLength: bytes.count)
            if incoming.method != "HEAD" { writer.put(bytes) }
        }
        let clientGone = !writer.close(errorStream: request.pointee.err)
        application.logCompletion(of: incoming, status: response.status.code, seconds: MonotonicClock.now() - started, clientGone: clientGone)
    }
}

/// A handler behind the side socket answered with a stream or a deferred response.
private struct SideServerAnswersBytesOnly: Error {}
