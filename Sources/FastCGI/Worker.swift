#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import CLinux
import HTTP
import Logging

/// One worker thread's loop: wait for a connection, accept it, serve its request, repeat.
///
/// Workers accept concurrently, with no accept mutex: each waits in its own epoll set, where
/// the listening socket is registered `EPOLLEXCLUSIVE` (one waiter woken per connection) and the
/// server's wake-up pipe is registered plainly (every waiter woken on stop). The listening
/// socket is non-blocking, so a worker that loses the race for a connection gets EAGAIN and
/// waits again. Nothing here is shared but the `ServerState` atomics.
final class Worker {
    private let server: FastCGIServer
    private let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
    private let epoll: Int32

    init(server: FastCGIServer) throws {
        self.server = server
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw SystemError("epoll_create1") }
        try watch(server.socket.fd, events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue, tag: Self.listenTag)
        try watch(server.wakeFD, events: EPOLLIN.rawValue, tag: Self.wakeTag)
        FCGX_InitRequest(request, server.socket.fd, 0)
    }

    deinit {
        FCGX_Free(request, 1)
        request.deallocate()
        close(epoll)
    }

    private static let listenTag: UInt32 = 1
    private static let wakeTag: UInt32 = 2

    private func watch(_ fd: Int32, events: UInt32, tag: UInt32) throws {
        var event = epoll_event()
        event.events = events
        event.data.u32 = tag
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 else { throw SystemError("epoll_ctl") }
    }

    func run() {
        let state = server.state
        while !state.isStopping {
            // A kept-alive connection (FCGI_KEEP_CONN) carries the next request itself.
            if request.pointee.ipcFd < 0 && !waitForConnection() { break }
            let rc = FCGX_Accept_r(request)
            if rc < 0 {
                if rc == -EAGAIN || rc == -EINTR || state.isStopping { continue }
                server.logger.warning("FastCGI accept failed", metadata: ["error": "\(SystemError("FCGX_Accept_r", code: -rc))"])
                usleep(10_000)
                continue
            }
            state.inFlight.add(1, ordering: .relaxed)
            serve()
            FCGX_Finish_r(request)
            state.inFlight.subtract(1, ordering: .relaxed)
        }
    }

    /// Blocks until the listening socket is readable (`true`) or the server stops (`false`).
    private func waitForConnection() -> Bool {
        var events = (epoll_event(), epoll_event())
        while true {
            let count = withUnsafeMutableBytes(of: &events) { buffer in
                epoll_wait(epoll, buffer.baseAddress!.assumingMemoryBound(to: epoll_event.self), 2, -1)
            }
            if count < 0 {
                if errno == EINTR { continue }
                server.logger.error("epoll_wait failed", metadata: ["error": "\(SystemError("epoll_wait"))"])
                return false
            }
            if server.state.isStopping { return false }
            if events.0.data.u32 == Self.listenTag || (count > 1 && events.1.data.u32 == Self.listenTag) { return true }
        }
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
        }

        let omitBody = incoming.method == "HEAD"
        var clientGone = false
        switch response.body {
        case .bytes(let bytes):
            let bodyless = response.status.code == 204 || response.status.code == 304
            writer.writeHead(status: response.status, headers: response.headers, contentLength: bodyless ? nil : bytes.count)
            if !omitBody && !bodyless { writer.put(bytes) }
        case .stream(let produce):
            let stream = StreamBodyWriter(writer: writer, status: response.status, headers: response.headers)
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
        application.logCompletion(
            of: incoming, status: response.status.code, seconds: MonotonicClock.now() - started, clientGone: clientGone
        )
    }
}
