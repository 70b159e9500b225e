#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Platform
import Synchronization

/// askd's own HTTP/1.1 client for an upstream on plain http (a local llama.cpp, vLLM or Ollama,
/// a gateway beside askd) and an answer read whole: the thread that submits a request sends it
/// at once on a kept-alive connection, and one loop thread of the client's waits for every
/// answer with epoll. No thread is handed the request and no thread waits on an answer;
/// libcurl (`TransferLoop`) still takes TLS, proxies and streams.
///
/// Each exchange in flight is in `waiting` under its own tag while its socket is armed
/// (EPOLLONESHOT), and whoever takes it out of `waiting` owns it: the loop on an event, or the
/// loop's sweep when it times out, never both. A connection that was idle may have been closed by
/// the upstream: an exchange on it that fails before any byte of an answer is sent again on a
/// new connection. A failure to connect, like a 502 or a 503, is retried once after a jittered
/// pause when the call's `finish` asks for it.
final class PlainHTTPClient: @unchecked Sendable {
    struct Reply: Sendable {
        let status: Int
        let body: [UInt8]
        let retryAfter: String?
        let contentType: String?
    }

    enum Failure: Error {
        /// The request never reached the upstream.
        case couldNotConnect(String)
        case timedOut(String)
        case broken(String)
    }

    /// A request's bytes and what takes its outcome: `finish` returns true, handing nothing on,
    /// to try once more (its second argument says whether it may).
    struct Call: Sendable {
        let request: [UInt8]
        let finish: @Sendable (Result<Reply, Failure>, Bool) -> Bool
        var attempt = 1
    }

    private struct Waiting {
        var exchanges: [UInt64: PlainHTTPExchange] = [:]
        var retries: [(due: Double, call: Call)] = []
        var stopping = false
    }

    private struct Connections {
        /// Kept for the next exchange, the most recently used last.
        var idle: [UpstreamConnection] = []
        var addresses: [SocketAddress] = []
        var resolvedAt = -Double.infinity
    }

    let endpoint: PlainHTTPEndpoint
    /// The request line and headers, up to the value of `Content-Length`.
    private let head: [UInt8]
    private let timeoutSeconds: Double
    private let connectTimeoutSeconds: Double
    private let bodyLimit: Int
    private let epoll: Int32
    /// Readable when a retry was queued or the loop should stop.
    private let wakeFD: Int32
    /// The exchanges armed, and the retries queued: whoever removes an exchange owns it.
    private let waiting = Locked(Waiting())
    private let connections = Locked(Connections())
    private let nextTag = Atomic<UInt64>(1)
    private let started = Atomic<Bool>(false)
    /// Retries queued, so that the loop looks at them only when there are any.
    private let queuedRetries = Atomic<Int>(0)

    private static let wakeTag = UInt64.max
    /// Idle connections kept after a burst; more are closed.
    private static let idleConnectionLimit = 64
    /// An idle connection older than this is looked at (one poll) before it is used again.
    private static let staleAfterSeconds = 1.0
    /// An idle connection unused for this long is closed.
    private static let idleCloseSeconds = 30.0
    /// How long resolved addresses are used before the host is resolved again.
    private static let resolveEverySeconds = 30.0

    /// nil unless `url` is plain http that this client can call and no proxy is configured.
    init?(url: String, headers: [String], timeoutSeconds: Int, connectTimeoutSeconds: Int, bodyLimit: Int) {
        guard let endpoint = PlainHTTPEndpoint(url: url), !PlainHTTPEndpoint.proxyConfigured else { return nil }
        self.endpoint = endpoint
        let lines = ["POST \(endpoint.path) HTTP/1.1", "Host: \(endpoint.authority)"] + headers + ["Content-Length: "]
        head = Array(lines.joined(separator: "\r\n").utf8)
        self.timeoutSeconds = Double(timeoutSeconds)
        self.connectTimeoutSeconds = Double(connectTimeoutSeconds)
        self.bodyLimit = bodyLimit
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeTag
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeFD, &event)
    }

    deinit {
        close(wakeFD)
        close(epoll)
    }

    /// Sends `body` as the request's, on the calling thread when a connection is at hand.
    func submit(body: [UInt8], finish: @escaping @Sendable (Result<Reply, Failure>, Bool) -> Bool) {
        var request = head
        request.reserveCapacity(head.count + 24 + body.count)
        request.append(contentsOf: "\(body.count)\r\n\r\n".utf8)
        request.append(contentsOf: body)
        begin(Call(request: request, finish: finish))
    }

    /// Ends the loop's thread; exchanges in flight fail. Only for an owner that goes away.
    func shutdown() {
        waiting.withLock { $0.stopping = true }
        wake()
    }

    // MARK: - Exchanges

    private func begin(_ call: Call) {
        let tag = nextTag.add(1, ordering: .relaxed).oldValue
        let exchange = PlainHTTPExchange(tag: tag, call: call, deadline: MonotonicClock.now() + timeoutSeconds, bodyLimit: bodyLimit)
        connect(exchange, fresh: false, receiveBuffer: nil)
    }

    /// Puts `exchange` on a kept connection (or a new one with `fresh`) and takes it as far as
    /// it goes without waiting.
    private func connect(_ exchange: PlainHTTPExchange, fresh: Bool, receiveBuffer: UnsafeMutableRawBufferPointer?) {
        let connection: UpstreamConnection
        if !fresh, let kept = takeIdle() {
            connection = kept
        } else {
            switch addresses().flatMap({ UpstreamConnection.open(to: $0, from: 0) }) {
            case .success(let opened): connection = opened
            case .failure(let failure):
                end(exchange, .failure(.couldNotConnect(failure.detail)))
                return
            }
        }
        exchange.attach(connection, connectTimeout: connectTimeoutSeconds)
        if connection.connecting {
            arm(exchange, for: EPOLLOUT.rawValue)
        } else {
            proceed(exchange, receiveBuffer: receiveBuffer)
        }
    }

    /// Takes one step of `exchange` and acts on where it ends.
    private func proceed(_ exchange: PlainHTTPExchange, receiveBuffer: UnsafeMutableRawBufferPointer?) {
        guard let connection = exchange.connection else { return }
        switch exchange.proceed(receiveBuffer: receiveBuffer) {
        case .wait(let events):
            arm(exchange, for: events)
        case .answered(let reply):
            exchange.connection = nil
            if exchange.connectionReusable { keep(connection) }
            end(exchange, .success(reply))
        case .broken(let detail, let beforeAnswer):
            exchange.connection = nil
            // A kept connection the upstream had closed: the request is sent again, once per
            // kept connection, on a new one.
            if beforeAnswer && connection.reused {
                connect(exchange, fresh: true, receiveBuffer: receiveBuffer)
            } else {
                end(exchange, .failure(.broken(detail)))
            }
        }
    }

    /// The loop's step for an exchange whose socket became ready.
    private func resume(_ exchange: PlainHTTPExchange, receiveBuffer: UnsafeMutableRawBufferPointer) {
        guard exchange.phase == .connecting, let connection = exchange.connection else {
            proceed(exchange, receiveBuffer: receiveBuffer)
            return
        }
        let error = connection.connectError()
        guard error != 0 else {
            connection.connecting = false
            exchange.phase = .sending
            exchange.connectDeadline = .infinity
            proceed(exchange, receiveBuffer: receiveBuffer)
            return
        }
        // This address refused: the next one, if the host has another.
        exchange.connection = nil
        let next = addresses().flatMap { UpstreamConnection.open(to: $0, from: connection.addressIndex + 1) }
        switch next {
        case .success(let opened):
            exchange.attach(opened, connectTimeout: connectTimeoutSeconds)
            if opened.connecting { arm(exchange, for: EPOLLOUT.rawValue) } else { proceed(exchange, receiveBuffer: receiveBuffer) }
        case .failure:
            end(exchange, .failure(.couldNotConnect("\(SystemError("connect", code: error))")))
        }
    }

    /// Hands the outcome on, or queues the one retry its call asks for.
    private func end(_ exchange: PlainHTTPExchange, _ result: Result<Reply, Failure>) {
        var call = exchange.call
        guard call.finish(result, call.attempt == 1) else { return }
        call.attempt += 1
        let due = MonotonicClock.now() + Double.random(in: 0.1...0.3)
        waiting.withLock { $0.retries.append((due, call)) }
        queuedRetries.add(1, ordering: .relaxed)
        if !startThreadOnce() { wake() }
    }

    // MARK: - Connections

    private func takeIdle() -> UpstreamConnection? {
        let now = MonotonicClock.now()
        while let connection = connections.withLock({ $0.idle.popLast() }) {
            // Looked at (one poll) only when it has been idle a while; a connection closed under
            // a busy client is caught by the send-again rule instead.
            if now - connection.idleSince < Self.staleAfterSeconds || askd_peer_hung_up(connection.fd) == 0 { return connection }
        }
        return nil
    }

    private func keep(_ connection: UpstreamConnection) {
        connection.reused = true
        connection.idleSince = MonotonicClock.now()
        connections.withLock { connections in
            if connections.idle.count < Self.idleConnectionLimit { connections.idle.append(connection) }
        }
    }

    private func addresses() -> Result<[SocketAddress], UpstreamConnection.Failure> {
        let now = MonotonicClock.now()
        if let known = connections.withLock({ now - $0.resolvedAt < Self.resolveEverySeconds ? $0.addresses : nil }) { return .success(known) }
        let resolved = SocketAddress.resolve(host: endpoint.host, port: endpoint.port)
        if case .success(let addresses) = resolved {
            connections.withLock { connections in
                connections.addresses = addresses
                connections.resolvedAt = now
            }
        }
        return resolved
    }

    // MARK: - The loop

    /// Puts `exchange` in `waiting`, then arms its socket for `events`. Once in `waiting` it
    /// may be taken (by the sweep) at any moment: from then on only the connection, held here,
    /// is touched, and its descriptor stays open until this returns.
    private func arm(_ exchange: PlainHTTPExchange, for events: UInt32) {
        guard let connection = exchange.connection else { return }
        var event = epoll_event()
        event.events = events | EPOLLONESHOT.rawValue
        event.data.u64 = exchange.tag
        let operation = connection.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD
        connection.registered = true
        waiting.withLock { $0.exchanges[exchange.tag] = exchange }
        epoll_ctl(epoll, operation, connection.fd, &event)
        startThreadOnce()
    }

    /// Starts the loop's thread unless it was; true if this call started it.
    @discardableResult
    private func startThreadOnce() -> Bool {
        guard !started.load(ordering: .acquiring), started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return false }
        startThread()
        return true
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private func startThread() {
        do {
            try DetachedThread.start(name: "askd-upstream-http") { [self] in run() }
        } catch {
            let stranded = waiting.withLock { waiting in
                defer { waiting.exchanges.removeAll(); waiting.retries.removeAll() }
                return (Array(waiting.exchanges.values), waiting.retries.map(\.call))
            }
            started.store(false, ordering: .releasing)
            let failure = Failure.broken("cannot start the upstream thread: \(error)")
            for exchange in stranded.0 { _ = exchange.call.finish(.failure(failure), false) }
            for call in stranded.1 { _ = call.finish(.failure(failure), false) }
        }
    }

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 128)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }
        var nextSweep = MonotonicClock.now() + 0.1
        // Waits end every 0.1 s for the sweep while anything is in flight or kept, else every second.
        var busy = false
        while true {
            if queuedRetries.load(ordering: .relaxed) > 0 { startDueRetries() }
            let count = epoll_wait(epoll, &events, Int32(events.count), busy ? 100 : 1_000)
            for event in events.prefix(Int(max(count, 0))) {
                if event.data.u64 == Self.wakeTag {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    if waiting.withLock({ $0.stopping }) {
                        abandon()
                        return
                    }
                    continue
                }
                guard let exchange = waiting.withLock({ $0.exchanges.removeValue(forKey: event.data.u64) }) else { continue }
                resume(exchange, receiveBuffer: buffer)
            }
            let now = MonotonicClock.now()
            if now >= nextSweep {
                nextSweep = now + 0.1
                busy = sweep(now: now)
            }
        }
    }

    private func startDueRetries() {
        let now = MonotonicClock.now()
        let due = waiting.withLock { waiting in
            defer { waiting.retries.removeAll { $0.due <= now } }
            return waiting.retries.filter { $0.due <= now }.map(\.call)
        }
        queuedRetries.subtract(due.count, ordering: .relaxed)
        for call in due { begin(call) }
    }

    /// Fails the exchanges past their deadline, and closes the connections idle for long.
    /// - Returns: whether any exchange or connection is left to look at next time.
    private func sweep(now: Double) -> Bool {
        let (late, inFlight) = waiting.withLock { waiting in
            let late = waiting.exchanges.values.filter { now >= $0.deadline || now >= $0.connectDeadline }
            for exchange in late { waiting.exchanges[exchange.tag] = nil }
            return (late, !waiting.exchanges.isEmpty)
        }
        // Closed as they go.
        let kept = connections.withLock { connections in
            connections.idle.removeFirst(connections.idle.prefix { now - $0.idleSince >= Self.idleCloseSeconds }.count)
            return !connections.idle.isEmpty
        }
        for exchange in late {
            let connecting = exchange.phase == .connecting
            let detail = connecting
                ? "could not connect to \(endpoint.authority) within \(Int(connectTimeoutSeconds)) s"
                : "no answer within \(Int(timeoutSeconds)) s"
            end(exchange, .failure(.timedOut(detail)))
        }
        return inFlight || kept
    }

    /// At shutdown: every exchange in flight, and every retry, fails.
    private func abandon() {
        let (exchanges, retries) = waiting.withLock { waiting in
            defer { waiting.exchanges.removeAll(); waiting.retries.removeAll() }
            return (Array(waiting.exchanges.values), waiting.retries.map(\.call))
        }
        connections.withLock { $0.idle.removeAll() }
        let stopping = Failure.broken("the upstream client was shut down")
        for exchange in exchanges { _ = exchange.call.finish(.failure(stopping), false) }
        for call in retries { _ = call.finish(.failure(stopping), false) }
    }
}
