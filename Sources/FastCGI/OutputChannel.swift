#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import CLinux
import HTTP
import Platform
import Synchronization

/// A response sent from any thread without blocking it: the `ResponseChannel` of a request
/// whose handler answered `.later`.
///
/// askd frames the records itself (`FastCGIRecords`) and sends them with `MSG_DONTWAIT`, since
/// libfcgi's streams block their writer until the web server reads. What the connection cannot
/// take at once waits in this channel's buffer, and the `DeliveryLoop` sends it when the socket
/// can take more. A client that lets more than `maxPendingBytes` pile up, or reads nothing for
/// the send timeout, is dropped: its connection is closed, the handler learns it from `write`,
/// and the log line says `client=gone`. Once the end record is out, the request is finished
/// and its connection parked for the next request, as a worker does.
final class OutputChannel: ResponseChannel, @unchecked Sendable {
    let requestID: String
    /// This channel's tag in the `DeliveryLoop`: never reused, unlike descriptors and addresses.
    let tag: UInt64
    let descriptor: Int32
    private let server: FastCGIServer
    private let request: UnsafeMutablePointer<FCGX_Request>
    private let incoming: Request
    private let startedAt: Double
    private let recordID: UInt16
    private let state = Locked(State())

    /// The most bytes of a body written piece by piece that may wait for a slow client.
    static let maxPendingBytes = 1 << 20

    private struct State {
        var pending: [UInt8] = []
        var sentOffset = 0
        var headSent = false
        var ended = false
        var gone = false
        var finished = false
        /// Waiting for the `DeliveryLoop` to say the socket can take more.
        var watched = false
        var status = 200
        var lastProgress = 0.0
        /// Time spent waiting for the model, as the handler reported it.
        var upstreamSeconds = 0.0
        /// When the end record was queued: what follows is waiting for the client.
        var endQueuedAt = 0.0
        /// Whether the head of a streamed body went out (a stream is open until the finish).
        var streamOpened = false

        var hasPending: Bool { sentOffset < pending.count }
    }

    /// What a call on the channel leaves to do once its lock is released.
    private enum Next {
        case nothing
        case watch
        case finish(clientGone: Bool)
    }

    private static let tags = Atomic<UInt64>(0)

    init(server: FastCGIServer, request: UnsafeMutablePointer<FCGX_Request>, incoming: Request, startedAt: Double) {
        self.server = server
        self.request = request
        self.incoming = incoming
        self.startedAt = startedAt
        requestID = incoming.id
        descriptor = request.pointee.ipcFd
        recordID = UInt16(truncatingIfNeeded: request.pointee.requestId)
        tag = Self.tags.wrappingAdd(1, ordering: .relaxed).newValue
    }

    var started: Bool { state.withLock { $0.headSent } }

    var mustEndNow: Bool { server.state.drainRanOut.load(ordering: .acquiring) }

    var pendingBytes: Int { state.withLock { $0.pending.count - $0.sentOffset } }

    var clientIsGone: Bool {
        if state.withLock({ $0.gone }) { return true }
        guard askd_peer_hung_up(descriptor) == 1 else { return false }
        state.withLock { $0.gone = true }
        return true
    }

    func begin(status: HTTPStatus, headers: HTTPHeaders) {
        let stamped = server.application.stamped(Response(status: status, headers: headers), id: requestID)
        let head = ResponseWriter.head(status: status, headers: stamped.headers, contentLength: nil)
        var opened = false
        perform { state in
            guard !state.headSent, !state.ended else { return .nothing }
            state.headSent = true
            state.status = status.code
            state.streamOpened = true
            opened = true
            return send(head, in: &state, bounded: false)
        }
        if opened { server.application.recorder?.streamOpened() }
    }

    func addUpstreamWait(_ seconds: Double) {
        state.withLock { $0.upstreamSeconds += seconds }
    }

    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty, incoming.method != "HEAD" else { return !state.withLock { $0.gone } }
        var gone = false
        perform { state in
            defer { gone = state.gone }
            guard state.headSent, !state.ended, !state.gone else { return .nothing }
            return send(bytes, in: &state, bounded: true)
        }
        return !gone
    }

    func end() {
        perform { state in
            guard !state.ended else { return .nothing }
            if !state.headSent {
                state.headSent = true
                let head = ResponseWriter.head(status: .ok, headers: ["X-Request-Id": requestID], contentLength: nil)
                _ = send(head, in: &state, bounded: false, flushing: false)
            }
            return sendEnd(in: &state)
        }
    }

    func respond(_ response: Response) {
        let stamped = server.application.stamped(response, id: requestID)
        guard case .bytes(let body) = stamped.body else {
            fail(LaterResponseError.notBytes)
            return
        }
        let bodyless = stamped.status.code == 204 || stamped.status.code == 304
        var bytes = ResponseWriter.head(status: stamped.status, headers: stamped.headers, contentLength: bodyless ? nil : body.count)
        if !bodyless && incoming.method != "HEAD" { bytes += body }
        perform { state in
            guard !state.headSent, !state.ended else { return .nothing }
            state.headSent = true
            state.status = stamped.status.code
            _ = send(bytes, in: &state, bounded: false, flushing: false)
            return sendEnd(in: &state)
        }
    }

    func fail(_ error: any Error) {
        // A client that left gets nothing more, not even an error.
        if started || error is ClientDisconnected {
            end()
        } else {
            respond(server.application.errorResponse(for: error, request: incoming))
        }
    }

    /// Sends what waits, now that the socket can take more (the `DeliveryLoop`'s call).
    func socketIsWritable() {
        perform { state in
            state.watched = false
            guard !state.finished else { return .nothing }
            flush(&state)
            return next(after: &state)
        }
    }

    /// Drops a client that has read nothing for `limit` seconds while bytes waited for it.
    func dropIfStalled(now: Double, limit: Double) {
        perform { state in
            guard !state.finished, state.hasPending, now - state.lastProgress > limit else { return .nothing }
            state.watched = false
            markGone(&state)
            return next(after: &state)
        }
    }

    private func perform(_ body: (inout State) -> Next) {
        let next = state.withLock(body)
        switch next {
        case .nothing: break
        case .watch: server.delivery.watch(self)
        case .finish(let clientGone): finish(clientGone: clientGone)
        }
    }

    /// Frames `bytes` as stdout and sends what the socket takes now, or, without `flushing`,
    /// leaves them for the end record to go out with in the same send: nginx may close a
    /// connection whose response it has whole (by its Content-Length) before the end record
    /// arrives, and then opens a new one for its next request.
    private func send(_ bytes: [UInt8], in state: inout State, bounded: Bool, flushing: Bool = true) -> Next {
        guard !state.gone else { return next(after: &state) }
        compact(&state)
        FastCGIRecords.appendStdout(bytes, id: recordID, to: &state.pending)
        if bounded && state.pending.count - state.sentOffset > Self.maxPendingBytes {
            markGone(&state)
            return next(after: &state)
        }
        guard flushing else { return .nothing }
        if !state.watched { flush(&state) }
        return next(after: &state)
    }

    private func sendEnd(in state: inout State) -> Next {
        state.ended = true
        state.endQueuedAt = MonotonicClock.now()
        guard !state.gone else { return next(after: &state) }
        compact(&state)
        FastCGIRecords.appendEnd(id: recordID, to: &state.pending)
        if !state.watched { flush(&state) }
        return next(after: &state)
    }

    /// Writes what the socket takes without waiting; marks the client gone on a hard error.
    private func flush(_ state: inout State) {
        while state.hasPending {
            let sent = state.pending.withUnsafeBytes { buffer in
                Glibc.send(descriptor, buffer.baseAddress! + state.sentOffset, buffer.count - state.sentOffset, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            }
            if sent > 0 {
                state.sentOffset += sent
                state.lastProgress = MonotonicClock.now()
                continue
            }
            if sent < 0 && errno == EINTR { continue }
            if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            markGone(&state)
            return
        }
        state.pending.removeAll(keepingCapacity: state.pending.capacity <= 65_536)
        state.sentOffset = 0
    }

    private func compact(_ state: inout State) {
        if state.sentOffset > 0 && state.sentOffset * 2 >= state.pending.count {
            state.pending.removeFirst(state.sentOffset)
            state.sentOffset = 0
        }
        if !state.hasPending { state.lastProgress = MonotonicClock.now() }
    }

    private func markGone(_ state: inout State) {
        state.gone = true
        state.pending = []
        state.sentOffset = 0
    }

    /// Finished once ended with nothing left to send (or nobody to send it to); else watched
    /// while bytes wait.
    private func next(after state: inout State) -> Next {
        guard !state.finished else { return .nothing }
        if state.gone || (state.ended && !state.hasPending) {
            guard state.ended else { return .nothing }
            state.finished = true
            return .finish(clientGone: state.gone)
        }
        guard state.hasPending, !state.watched else { return .nothing }
        state.lastProgress = state.lastProgress == 0 ? MonotonicClock.now() : state.lastProgress
        state.watched = true
        return .watch
    }

    /// Logs the request, finishes it in libfcgi and parks its connection (or closes it when the
    /// client is gone: nginx has closed it, or must not get the rest of a cut response).
    private func finish(clientGone: Bool) {
        server.delivery.forget(self)
        if clientGone {
            request.pointee.keepConnection = 0
            request.pointee.detached = 1
        }
        let now = MonotonicClock.now()
        let (status, upstream, endQueuedAt, streamOpened) = state.withLock { ($0.status, $0.upstreamSeconds, $0.endQueuedAt, $0.streamOpened) }
        server.application.logCompletion(
            of: incoming, status: status, seconds: now - startedAt, clientGone: clientGone, upstreamSeconds: upstream,
            clientSeconds: endQueuedAt > 0 ? now - endQueuedAt : 0
        )
        if streamOpened { server.application.recorder?.streamClosed() }
        FCGX_Finish_r(request)
        server.state.inFlight.subtract(1, ordering: .relaxed)
        if request.pointee.ipcFd < 0 || !server.readySet.park(request) { KeptRequest.release(request) }
        server.state.answeringLater.subtract(1, ordering: .releasing)
    }
}

/// A response sent through a channel must be bytes: the channel is itself the stream.
enum LaterResponseError: Error {
    case notBytes
}
