#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import CLinux
import HTTP
import Logging

/// One worker thread's loop: take the next piece of work from the `ReadySet` (a new connection
/// or a kept-alive one with a request on it), serve that request, repeat.
///
/// Workers accept concurrently, with no accept mutex: the listening socket is non-blocking, so a
/// worker that loses the race for a connection gets EAGAIN and waits again. A request is owned
/// by one worker from accept to finish; only its kept-alive connection outlives it, parked in
/// the `ReadySet` rather than in a blocked worker.
final class Worker {
    private let server: FastCGIServer
    /// The request struct this worker accepts new connections into.
    private var spare: UnsafeMutablePointer<FCGX_Request>
    private var request: UnsafeMutablePointer<FCGX_Request>

    init(server: FastCGIServer) {
        self.server = server
        spare = KeptRequest.make(listenFD: server.socket.fd)
        request = spare
    }

    deinit {
        KeptRequest.release(spare)
    }

    func run() {
        while true {
            switch server.readySet.next() {
            case .stop:
                serveQueuedConnections()
                return
            case .accept:
                let rc = FCGX_Accept_r(spare)
                guard rc >= 0 else {
                    if rc != -EAGAIN && rc != -EINTR && !server.state.isStopping {
                        // EMFILE and the like: the listening socket stays readable, so pause
                        // rather than spin, and say why.
                        server.logger.warning("FastCGI accept failed", metadata: ["error": "\(SystemError("accept", code: -rc))"])
                        usleep(50_000)
                    }
                    continue
                }
                request = spare
                serveAndFinish()
                if request.pointee.ipcFd >= 0 {
                    // Kept alive: the connection leaves with the struct, and a fresh one takes its place.
                    spare = KeptRequest.make(listenFD: server.socket.fd)
                    if !server.readySet.park(request) { KeptRequest.release(request) }
                }
            case .connection(let kept):
                // The next request on a kept-alive connection, or its end (then libfcgi closes it
                // and tries the non-blocking listening socket, which usually says EAGAIN).
                guard FCGX_Accept_r(kept) >= 0 else {
                    KeptRequest.release(kept)
                    continue
                }
                request = kept
                serveAndFinish()
                if request.pointee.ipcFd < 0 || !server.readySet.park(request) { KeptRequest.release(request) }
            }
        }
    }

    /// At a stop: connections that reached askd's own socket before it closed are answered, not
    /// reset. (An inherited socket keeps its queue for the next instance.)
    private func serveQueuedConnections() {
        guard server.socket.owned else { return }
        while FCGX_Accept_r(spare) >= 0 {
            request = spare
            spare.pointee.keepConnection = 0
            serveAndFinish()
        }
    }

    private func serveAndFinish() {
        let busy = server.state.inFlight.add(1, ordering: .relaxed).newValue
        server.workerTookRequest(busy: busy)
        serve()
        FCGX_Finish_r(request)
        server.state.inFlight.subtract(1, ordering: .relaxed)
    }

    /// Reads the request, answers it and logs it. Runs on this worker only.
    private func serve() {
        let started = MonotonicClock.now()
        let application = server.application
        let params = RequestReader.parameters(request.pointee.envp)
        var (incoming, bodyLength) = RequestParameters.request(from: params)
        let writer = ResponseWriter(stream: request.pointee.out)

        var response: Response
        do {
            let length = try bodyLength.get()
            incoming.body = try RequestReader.body(from: request.pointee.in, length: length, limit: server.options.maxBodyBytes)
            response = application.respond(to: &incoming)
        } catch {
            response = application.respond(to: &incoming, failingWith: error)
            // The rest of the body is still on the connection; libfcgi would read it as the
            // next request. Close the connection after this answer instead of keeping it.
            request.pointee.keepConnection = 0
        }

        let omitBody = incoming.method == "HEAD"
        var clientGone = false
        switch response.body {
        case .bytes(let bytes):
            let bodyless = response.status.code == 204 || response.status.code == 304
            writer.writeHead(status: response.status, headers: response.headers, contentLength: bodyless ? nil : bytes.count)
            if !omitBody && !bodyless { writer.put(bytes) }
        case .stream(let produce):
            let stream = StreamBodyWriter(
                writer: writer, status: response.status, headers: response.headers, descriptor: request.pointee.ipcFd
            )
            if omitBody {
                stream.sendHeadIfNeeded()
                break
            }
            do {
                try produce(stream)
                stream.sendHeadIfNeeded()
            } catch is ClientDisconnected {
                clientGone = true
            } catch {
                let failure = application.errorResponse(for: error, request: incoming)
                if !stream.headSent {
                    response = failure
                    if case .bytes(let bytes) = failure.body {
                        writer.writeHead(status: failure.status, headers: failure.headers, contentLength: bytes.count)
                        writer.put(bytes)
                    }
                }
            }
        }
        _ = writer.flush()
        clientGone = clientGone || writer.clientIsGone
        // nginx closed this connection when its client left: never park it for another request.
        if clientGone { request.pointee.keepConnection = 0 }
        application.logCompletion(
            of: incoming, status: response.status.code, seconds: MonotonicClock.now() - started, clientGone: clientGone
        )
    }
}
