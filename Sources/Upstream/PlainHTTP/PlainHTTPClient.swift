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
/// loop's sweep when it times out, never both. A kept connection is used again only if nothing
/// waits unread on it; one that the upstream closed just as a request went out fails before
/// any byte of an answer, and that request is sent again, once, on a new connection. A failure to
/// connect, like a 502 or a 503, is retried once after a jittered pause when the call's `finish`
/// asks for it. The loop's thread never resolves the host: lookups happen on the threads that
/// submit (and the retries, on the shared work queue), at most one at a time.
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

    struct Connections {
        /// Kept for the next exchange, the most recently used last.
        var idle: [UpstreamConnection] = []
        /// The host's addresses, the one that last connected first.
        var addresses: [SocketAddress] = []
        var resolvedAt = -Double.infinity
        var failedAt = -Double.infinity
        var failure = ""
        var resolving = false
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
    let connections = Locked(Connections())
    /// Held across a lookup: one at a time, and a caller with no address to use waits for the
    /// lookup in flight instead of failing.
    let lookup = Lock()
    private let nextTag = Atomic<UInt64>(1)
    private let started = Atomic<Bool>(false)
    /// Calls not yet handed on (retries included): the loop's sweep runs every 0.1 s while any are.
    private let inFlight = Atomic<Int>(0)

    private static let wakeTag = UInt64.max
    /// Idle connections kept after a burst; more are closed.
    static let idleConnectionLimit = 64
    /// An idle connection unused for this long is closed.
    private static let idleCloseSeconds = 30.0
    /// How long resolved addresses are used before the host is resolved again, and how long a
    /// failed lookup is not tried again.
    static let resolveEverySeconds = 30.0
    static let resolveFailureSeconds = 1.0

    /// nil unless `url` is plain http that this client can call, no proxy is configured, and its
    /// epoll set can be made.
    init?(url: String, headers: [String], timeoutSeconds: Int, connectTimeoutSeconds: Int, bodyLimit: Int) {
        guard let endpoint = PlainHTTPEndpoint(url: url), !PlainHTTPEndpoint.proxyConfigured else { return nil }
        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        let wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeTag
        guard epoll >= 0, wakeFD >= 0, epoll_ctl(epoll, EPOLL_CTL_ADD, wakeFD, &event) == 0 else {
            if epoll >= 0 { close(epoll) }
            if wakeFD >= 0 { close(wakeFD) }
            return nil
        }
        self.epoll = epoll
        self.wakeFD = wakeFD
        self.endpoint = endpoint
        let lines = ["POST \(endpoint.path) HTTP/1.1", "Host: \(endpoint.authority)"] + headers + ["Content-Length: "]
        head = Array(lines.joined(separator: "\r\n").utf8)
        self.timeoutSeconds = Double(timeoutSeconds)
        self.connectTimeoutSeconds = Double(connectTimeoutSeconds)
        self.bodyLimit = bodyLimit
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
        inFlight.add(1, ordering: .relaxed)
        begin(Call(request: request, finish: finish), onLoop: false)
    }

    /// Ends the loop's thread; exchanges in flight fail. Only for an owner that goes away.
    func shutdown() {
        waiting.withLock { $0.stopping = true }
        wake()
    }

    // MARK: - Exchanges

    private func begin(_ call: Call, onLoop: Bool) {
        let tag = nextTag.add(1, ordering: .relaxed).oldValue
        let exchange = PlainHTTPExchange(tag: tag, call: call, deadline: MonotonicClock.now() + timeoutSeconds, bodyLimit: bodyLimit)
        connect(exchange, fresh: false, receiveBuffer: nil, onLoop: onLoop)
    }

    /// Puts `exchange` on a kept connection (or a new one with `fresh`) and takes it as far as
    /// it goes without waiting.
    private func connect(_ exchange: PlainHTTPExchange, fresh: Bool, receiveBuffer: UnsafeMutableRawBufferPointer?, onLoop: Bool) {
        if !fresh, let kept = takeIdle() {
            exchange.attach(kept, connectTimeout: connectTimeoutSeconds)
            proceed(exchange, receiveBuffer: receiveBuffer)
            return
        }
        switch addresses(mayResolve: !onLoop).flatMap({ UpstreamConnection.open(to: $0, from: 0) }) {
        case .success(let opened):
            started(exchange, on: opened, receiveBuffer: receiveBuffer)
        case .failure(let failure):
            end(exchange, .failure(.couldNotConnect(failure.detail)))
        }
    }

    /// Goes on with `exchange` on a connection just opened, connected or connecting.
    private func started(_ exchange: PlainHTTPExchange, on connection: UpstreamConnection, receiveBuffer: UnsafeMutableRawBufferPointer?) {
        exchange.attach(connection, connectTimeout: connectTimeoutSeconds)
        if connection.connecting {
            arm(exchange, for: EPOLLOUT.rawValue)
        } else {
            promote(connection)
            proceed(exchange, receiveBuffer: receiveBuffer)
        }
    }

    /// Takes one step of `exchange` and acts on where it ends.
    private func proceed(_ exchange: PlainHTTPExchange, receiveBuffer: UnsafeMutableRawBufferPointer?) {
        guard let connection = exchange.connection else {
            end(exchange, .failure(.broken("no connection")))
            return
        }
        switch exchange.proceed(receiveBuffer: receiveBuffer) {
        case .wait(let events):
            arm(exchange, for: events)
        case .answered(let reply):
            exchange.connection = nil
            if exchange.connectionReusable { keep(connection) }
            end(exchange, .success(reply))
        case .broken(let detail, let resendable):
            exchange.connection = nil
            if resendable && connection.reused {
                connect(exchange, fresh: true, receiveBuffer: receiveBuffer, onLoop: receiveBuffer != nil)
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
            exchange.connected()
            promote(connection)
            proceed(exchange, receiveBuffer: receiveBuffer)
            return
        }
        tryNextAddress(exchange, after: "\(SystemError("connect", code: error))", receiveBuffer: receiveBuffer)
    }

    /// Connecting to this address failed or timed out: the next of the host's, if there is one.
    private func tryNextAddress(_ exchange: PlainHTTPExchange, after detail: String, receiveBuffer: UnsafeMutableRawBufferPointer?) {
        guard let failed = exchange.connection else { return end(exchange, .failure(.couldNotConnect(detail))) }
        exchange.connection = nil
        switch UpstreamConnection.open(to: failed.addresses, from: failed.addressIndex + 1) {
        case .success(let opened): started(exchange, on: opened, receiveBuffer: receiveBuffer)
        case .failure: end(exchange, .failure(.couldNotConnect(detail)))
        }
    }

    /// Hands the outcome on, or queues the one retry its call asks for.
    private func end(_ exchange: PlainHTTPExchange, _ result: Result<Reply, Failure>) {
        var call = exchange.call
        guard call.finish(result, call.attempt == 1) else {
            inFlight.subtract(1, ordering: .relaxed)
            return
        }
        call.attempt += 1
        let due = MonotonicClock.now() + Double.random(in: 0.1...0.3)
        waiting.withLock { $0.retries.append((due, call)) }
        if !startThreadOnce() { wake() }
    }

    // MARK: - The loop

    /// Puts `exchange` in `waiting`, then arms its socket for `events`. Once in `waiting` it
    /// may be taken (by the sweep) at any moment: from then on only the connection, held here,
    /// is touched, and its descriptor stays open until this returns.
    private func arm(_ exchange: PlainHTTPExchange, for events: UInt32) {
        guard let connection = exchange.connection else { return end(exchange, .failure(.broken("no connection"))) }
        var event = epoll_event()
        event.events = events | EPOLLONESHOT.rawValue
        event.data.u64 = exchange.tag
        let operation = connection.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD
        connection.registered = true
        waiting.withLock { $0.exchanges[exchange.tag] = exchange }
        if epoll_ctl(epoll, operation, connection.fd, &event) != 0 {
            let failure = SystemError("epoll_ctl")
            // Ended here unless the sweep took it meanwhile.
            if waiting.withLock({ $0.exchanges.removeValue(forKey: exchange.tag) }) != nil {
                end(exchange, .failure(.broken("cannot wait for the upstream: \(failure)")))
            }
            return
        }
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
            // Let the next call try again before taking what is stranded: what comes after the
            // take finds the flag down and starts the thread itself.
            started.store(false, ordering: .releasing)
            let (exchanges, retries) = waiting.withLock { waiting in
                defer { waiting.exchanges.removeAll(); waiting.retries.removeAll() }
                return (Array(waiting.exchanges.values), waiting.retries.map(\.call))
            }
            let failure = Failure.broken("cannot start the upstream thread: \(error)")
            for call in exchanges.map(\.call) + retries {
                _ = call.finish(.failure(failure), false)
                inFlight.subtract(1, ordering: .relaxed)
            }
        }
    }

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 128)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }
        var nextSweep = MonotonicClock.now() + 0.1
        while true {
            let nextRetry = startDueRetries()
            // Every 0.1 s for the sweep while anything is in flight, else every second (for idle
            // connections); sooner for the next retry.
            var wait = inFlight.load(ordering: .relaxed) > 0 ? 0.1 : 1.0
            if let nextRetry { wait = min(wait, max(0, nextRetry - MonotonicClock.now())) }
            let count = epoll_wait(epoll, &events, Int32(events.count), Int32((wait * 1_000).rounded(.up)))
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
                sweep(now: now)
            }
        }
    }

    /// Starts the retries that are due, on the shared work queue (a new connection may need a
    /// lookup, which this thread never waits on); returns when the next one is due.
    private func startDueRetries() -> Double? {
        let now = MonotonicClock.now()
        let (due, next) = waiting.withLock { waiting -> ([Call], Double?) in
            guard !waiting.retries.isEmpty else { return ([], nil) }
            let due = waiting.retries.filter { $0.due <= now }.map(\.call)
            waiting.retries.removeAll { $0.due <= now }
            return (due, waiting.retries.map(\.due).min())
        }
        for call in due { WorkQueue.shared.post { [self] in begin(call, onLoop: false) } }
        return next
    }

    /// Fails the exchanges past their deadline (or moves one that could not connect in time to
    /// the host's next address), and closes the connections idle for long.
    private func sweep(now: Double) {
        let late = waiting.withLock { waiting in
            let late = waiting.exchanges.values.filter { now >= $0.deadline || now >= $0.connectDeadline }
            for exchange in late { waiting.exchanges[exchange.tag] = nil }
            return late
        }
        // Closed as they go.
        connections.withLock { connections in
            connections.idle.removeFirst(connections.idle.prefix { now - $0.idleSince >= Self.idleCloseSeconds }.count)
        }
        for exchange in late {
            if now < exchange.deadline {
                tryNextAddress(exchange, after: "could not connect to \(endpoint.authority) within \(Int(connectTimeoutSeconds)) s", receiveBuffer: nil)
            } else {
                let detail = exchange.phase == .connecting
                    ? "could not connect to \(endpoint.authority) within \(Int(timeoutSeconds)) s"
                    : "no answer within \(Int(timeoutSeconds)) s"
                exchange.connection = nil
                end(exchange, .failure(.timedOut(detail)))
            }
        }
    }

    /// At shutdown: every exchange in flight, and every retry, fails.
    private func abandon() {
        let (exchanges, retries) = waiting.withLock { waiting in
            defer { waiting.exchanges.removeAll(); waiting.retries.removeAll() }
            return (Array(waiting.exchanges.values), waiting.retries.map(\.call))
        }
        connections.withLock { $0.idle.removeAll() }
        let stopping = Failure.broken("the upstream client was shut down")
        for call in exchanges.map(\.call) + retries { _ = call.finish(.failure(stopping), false) }
    }
}
