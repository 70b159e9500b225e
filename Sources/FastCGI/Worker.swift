#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import CLinux
import HTTP
import Logging
import Platform

/// One worker thread's loop: take the next piece of work from the `ReadySet` (a new connection
/// or a kept-alive one with a request on it), serve that request, repeat.
///
/// Workers accept concurrently, with no accept mutex: the listening socket is non-blocking, so a
/// worker that loses the race for a connection gets EAGAIN and waits again. A request is owned
/// by one thread at a time: a worker from accept to finish, except that a response written later
/// (`.later`, one waiting on the model or a turn lock) holds no thread while it waits: its
/// `OutputChannel` finishes it. A kept-alive connection outlives its request parked in the
/// `ReadySet`, not in a blocked worker.
final class Worker {
    private let server: FastCGIServer
    /// Since when this worker has been on its request, for the main thread (see `WorkerSlot`).
    private let slot = WorkerSlot()

    /// What became of a request once its handler answered.
    private enum Outcome {
        /// Answered and finished: the struct is this worker's again.
        case finished
        /// Answered later: the struct belongs to its `OutputChannel` now.
        case later
    }

    init(server: FastCGIServer) {
        self.server = server
    }

    func run() {
        server.state.workerSlots.withLock { $0.append(slot) }
        let idleMilliseconds = Int32(clamping: Int(server.options.idleWorkerSeconds * 1_000))
        while true {
            switch server.readySet.next(timeoutMilliseconds: idleMilliseconds) {
            case .stop:
                serveQueuedConnections()
                return
            case .idle:
                // A worker that a burst started, and that has had nothing to do since, ends.
                if server.retireIdleWorker() {
                    server.state.workerSlots.withLock { slots in slots.removeAll { $0 === slot } }
                    return
                }
            case .accept:
                switch server.acceptor.accept(from: server.socket.fd) {
                case .none:
                    continue
                case .failed(let code):
                    if !server.state.isStopping {
                        // EMFILE and the like: the listening socket stays readable, so pause
                        // rather than spin, and say why.
                        server.logger.warning("FastCGI accept failed", metadata: ["error": "\(SystemError("accept", code: code))"])
                        usleep(50_000)
                    }
                case .connection(let fd, let readable):
                    let request = KeptRequest.make(connection: fd)
                    // Nothing sent yet: the connection waits in the ready set, not in a worker.
                    guard readable else {
                        park(request)
                        continue
                    }
                    guard read(request) else { continue }
                    if serve(request) == .finished { park(request) }
                }
            case .connection(let kept):
                // The next request on a kept-alive connection, or its end (then libfcgi closes it
                // and tries the non-blocking listening socket, which usually says EAGAIN).
                guard read(kept) else { continue }
                if serve(kept) == .finished { park(kept) }
            }
        }
    }

    /// Reads the next request's beginning and params from the connection, under the main
    /// thread's watch (`serve` ends it once the body is read); false, with the connection
    /// closed, when none comes.
    private func read(_ request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
        slot.startReading(request.pointee.ipcFd)
        guard FCGX_Accept_r(request) >= 0 else {
            slot.doneReading()
            KeptRequest.release(request)
            return false
        }
        return true
    }

    /// At a stop: connections that reached askd's own socket before it closed are answered, not
    /// reset. (An inherited socket keeps its queue for the next instance.)
    private func serveQueuedConnections() {
        guard server.socket.owned else { return }
        while case .connection(let fd, _) = server.acceptor.accept(from: server.socket.fd) {
            let request = KeptRequest.make(connection: fd)
            guard FCGX_Accept_r(request) >= 0 else {
                KeptRequest.release(request)
                continue
            }
            request.pointee.keepConnection = 0
            if serve(request) == .finished { KeptRequest.release(request) }
        }
    }

    /// Parks a finished request's kept-alive connection, or closes it.
    private func park(_ request: UnsafeMutablePointer<FCGX_Request>) {
        if request.pointee.ipcFd < 0 || !server.readySet.park(request) { KeptRequest.release(request) }
    }

    /// Reads the request and answers it, or hands it to a channel that answers later.
    private func serve(_ request: UnsafeMutablePointer<FCGX_Request>) -> Outcome {
        let held = server.state.inFlight.add(1, ordering: .relaxed).newValue
        server.state.requestsStarted.add(1, ordering: .relaxed)
        let started = MonotonicClock.now()
        server.state.busyWorkers.add(1, ordering: .relaxed)
        slot.requestStarted.store(Int(started * 1_000_000), ordering: .relaxed)
        defer {
            slot.requestStarted.store(0, ordering: .relaxed)
            server.state.busyWorkers.subtract(1, ordering: .relaxed)
        }
        let application = server.application
        let params = RequestReader.parameters(request.pointee.envp)
        var (incoming, bodyLength) = RequestParameters.request(from: params)

        let response: Response
        do {
            let length = try bodyLength.get()
            let limit = server.options.maxBodyBytes(forPath: incoming.path)
            var streamed: StreamedBody?
            if server.options.streamsBody(forPath: incoming.path), let input = request.pointee.in {
                streamed = StreamedBody(stream: input, length: length, limit: limit)
                incoming.bodySource = streamed
            } else {
                incoming.body = try RequestReader.body(from: request.pointee.in, length: length, limit: limit)
            }
            slot.doneReading()
            // Beyond the bound, refused at once (its body read, so that the connection is kept).
            response = held > server.options.maxInFlight
                ? application.respond(to: &incoming, failingWith: HTTPError.serverBusy) : application.respond(to: &incoming)
            if let streamed {
                // What the handler left unread (or could not read) is read off now, or the
                // connection goes with this answer.
                incoming.bodySource = nil
                if !streamed.finish() { request.pointee.keepConnection = 0 }
            }
        } catch {
            slot.doneReading()
            response = application.respond(to: &incoming, failingWith: error)
            // The rest of the body is still on the connection; libfcgi would read it as the
            // next request. Close the connection after this answer instead of keeping it.
            request.pointee.keepConnection = 0
            // A peer that stalled past the read timeout is not waited for at the close either.
            let readError = request.pointee.in.map { FCGX_GetError($0) } ?? 0
            if readError == EAGAIN || readError == EWOULDBLOCK { request.pointee.detached = 1 }
        }
        if case .later(let start) = response.body {
            answerLater(start, for: incoming, on: request, started: started)
            return .later
        }
        send(response, for: incoming, on: request, started: started)
        return .finished
    }

    /// Hands the request to an `OutputChannel` and sets the handler's work going; the worker
    /// takes the next request at once.
    private func answerLater(
        _ start: @Sendable (any ResponseChannel) -> Void, for incoming: Request, on request: UnsafeMutablePointer<FCGX_Request>,
        started: Double
    ) {
        server.state.answeringLater.add(1, ordering: .relaxed)
        // The body and its end record have been read, so libfcgi's input stream (an 8 KiB
        // buffer) has nothing left to give; it is freed now rather than held for the whole wait.
        // `FCGX_Finish_r` takes a NULL `in` as "streams already closed", and then writes nothing:
        // the channel sends every record of the response itself.
        FCGX_FreeStream(&request.pointee.in)
        start(OutputChannel(server: server, request: request, incoming: incoming, startedAt: started))
    }

    /// Writes the response, finishes the request and logs it.
    private func send(_ response: Response, for incoming: Request, on request: UnsafeMutablePointer<FCGX_Request>, started: Double) {
        let application = server.application
        let writer = ResponseWriter(stream: request.pointee.out)
        let omitBody = incoming.method == "HEAD"
        switch response.body {
        case .later:
            break
        case .bytes(let bytes):
            let bodyless = response.status.code == 204 || response.status.code == 304
            writer.writeHead(status: response.status, headers: response.headers, contentLength: bodyless ? nil : bytes.count)
            if !omitBody && !bodyless { writer.put(bytes) }
        }
        let clientGone = !writer.close(errorStream: request.pointee.err)
        // nginx closed this connection when its client left, or stopped reading it past the send
        // timeout: never park it for another request, and close it at once rather than wait
        // (libfcgi's close otherwise waits up to 2 s for the peer to close its side).
        if clientGone {
            request.pointee.keepConnection = 0
            request.pointee.detached = 1
        }
        // Logged once the answer is out, and before the request is finished: `request` stays this
        // worker's until `FCGX_Finish_r`.
        application.logCompletion(
            of: incoming, status: response.status.code, seconds: MonotonicClock.now() - started, clientGone: clientGone
        )
        FCGX_Finish_r(request)
        server.state.inFlight.subtract(1, ordering: .relaxed)
    }
}

