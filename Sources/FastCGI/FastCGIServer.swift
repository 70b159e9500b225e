#if canImport(Glibc)
import Glibc
#endif
import CLinux
import CFastCGI
import HTTP
import Logging
import Platform

/// askd's FastCGI server: libfcgi, a pool of worker threads, and a graceful stop.
///
/// `run()` blocks SIGTERM, SIGINT and the other asynchronous signals in every thread, starts the
/// first workers, and waits for a stop signal on the calling thread with `sigtimedwait`. Workers
/// block every signal, because libfcgi does not retry reads and writes interrupted by one.
/// More workers start as the load needs them (when every worker is busy), up to `options.threads`.
///
/// On the first SIGTERM or SIGINT the server stops accepting (a socket it made is unlinked and shut
/// down, so new connections are refused), closes idle kept-alive connections, wakes the idle
/// workers through a pipe, and waits up
/// to `drainSeconds` for the busy ones to finish their requests. A second signal ends the wait at
/// once. libfcgi's own SIGTERM handling is not used: a thread blocked in accept() would serve one
/// more request before noticing it.
public final class FastCGIServer: Sendable {
    let socket: ListeningSocket
    let application: Application
    let options: ServerOptions
    let logger: Logger
    let state = ServerState()
    /// What the workers wait on: new connections, kept-alive ones, and the stop pipe.
    let readySet: ReadySet
    /// Takes new connections and gives them askd's timeouts.
    let acceptor: ConnectionAcceptor
    /// Sends what responses written later (`OutputChannel`) could not send at once.
    let delivery: DeliveryLoop
    /// Write end of the stop pipe, which becomes readable, for every worker, on stop.
    private let wakeWriteFD: Int32

    /// Signals that stop the server.
    private static let stopSignals = [SIGTERM, SIGINT]
    /// Signals that are blocked everywhere and never acted on, so that none reaches a worker.
    private static let ignoredSignals = [SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE]

    public init(socket: ListeningSocket, application: Application, options: ServerOptions, logger: Logger) throws {
        self.socket = socket
        self.application = application
        self.options = options
        self.logger = logger
        delivery = DeliveryLoop(sendTimeoutSeconds: options.sendTimeoutSeconds)
        acceptor = ConnectionAcceptor(
            readTimeoutSeconds: options.requestReadTimeoutSeconds, sendTimeoutSeconds: options.sendTimeoutSeconds,
            allowList: getenv("FCGI_WEB_SERVER_ADDRS").map { String(cString: $0) }
        )
        var pipeFDs: [Int32] = [-1, -1]
        guard askd_pipe2(&pipeFDs, O_CLOEXEC | O_NONBLOCK) == 0 else { throw SystemError("pipe2") }
        wakeWriteFD = pipeFDs[1]
        let state = state
        readySet = try ReadySet(
            listenFD: socket.fd, stopFD: pipeFDs[0],
            waiters: EpollWaiters { state.busyWorkers.load(ordering: .relaxed) }
        )
    }

    /// Serves until a stop signal, then drains.
    /// - Returns: the process exit status: 0 after a clean drain, 1 if requests were cut short.
    public func run() -> Int32 {
        Self.holdSignals()

        // FCGX_Init installs handlers for SIGPIPE, SIGUSR1 and SIGTERM; with those signals blocked
        // in every thread they never run. Writes to a closed peer then fail with EPIPE.
        guard FCGX_Init() == 0 else {
            logger.critical("libfcgi failed to initialise")
            return 1
        }
        signal(SIGPIPE, SIG_IGN)

        let flags = fcntl(socket.fd, F_GETFL)
        guard flags >= 0, fcntl(socket.fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            logger.critical("cannot make the listening socket non-blocking", metadata: ["error": "\(SystemError("fcntl"))"])
            return 1
        }

        let initialThreads = min(max(options.initialThreads, 1), options.threads)
        do {
            for _ in 0..<initialThreads { try startWorker() }
        } catch {
            logger.critical("cannot start worker threads", metadata: ["error": "\(error)"])
            beginStop()
            return 1
        }
        logger.info(
            "askd is serving",
            metadata: [
                "listen": "\(socket.description)", "threads": "\(options.threads)", "threads_started": "\(initialThreads)",
                "pid": "\(getpid())",
            ]
        )

        var stop = sigset_t()
        sigemptyset(&stop)
        for signal in Self.stopSignals { sigaddset(&stop, signal) }
        // Waiting for a stop signal, the main thread also looks at the workers every tick (see
        // `growIfWorkersAreHeld`), and gives freed memory back once askd is idle (`IdleMemory`).
        var idleMemory = IdleMemory(since: MonotonicClock.now())
        var readDeadlines = ReadDeadlines()
        var received: Int32 = 0
        var tickMilliseconds = Self.idleTickMilliseconds
        while true {
            var tick = timespec(tv_sec: 0, tv_nsec: tickMilliseconds * 1_000_000)
            received = sigtimedwait(&stop, nil, &tick)
            if received > 0 { break }
            tickMilliseconds = growIfWorkersAreHeld() ? Self.busyTickMilliseconds : Self.idleTickMilliseconds
            readDeadlines.tick(state.workerSlots, limit: options.requestReadTimeoutSeconds)
            idleMemory.tick(
                requestsStarted: state.requestsStarted.load(ordering: .relaxed),
                inFlight: state.inFlight.load(ordering: .relaxed)
            )
        }

        let inFlight = state.inFlight.load(ordering: .relaxed)
        logger.info(
            "stopping: no new connections; draining in-flight requests",
            metadata: ["signal": "\(Self.name(of: received))", "in_flight": "\(inFlight)", "drain_seconds": "\(options.drainSeconds)"]
        )
        beginStop()
        return drain(watching: stop)
    }

    /// How often the main thread looks at the workers (see `growIfWorkersAreHeld`): while some
    /// are idle, and while all are busy.
    private static let idleTickMilliseconds = 20
    private static let busyTickMilliseconds = 1
    /// How long a worker must have been on its request to count as held by it.
    private static let heldMicroseconds = 10_000

    /// Starts one more worker while fewer than `options.threads` have started and no stop has begun.
    /// - Returns: `false` when there was no room for another.
    @discardableResult
    private func startWorker() throws -> Bool {
        var started = state.startedWorkers.load(ordering: .relaxed)
        while true {
            guard started < options.threads, !state.isStopping else { return false }
            let (exchanged, current) = state.startedWorkers.compareExchange(
                expected: started, desired: started + 1, ordering: .relaxed
            )
            if exchanged { break }
            started = current
        }
        do {
            try startThread(name: "askd-w\(started)") { $0.run() }
        } catch {
            state.startedWorkers.subtract(1, ordering: .relaxed)
            throw error
        }
        return true
    }

    /// Whether an idle worker may end: only while more than the initial workers run and no stop
    /// has begun. Counted off here, so that the main thread may start another when all are busy.
    ///
    /// Threads a burst started end after `idleWorkerSeconds` with nothing to do, and their stacks
    /// and malloc caches go back. (Only a few idle workers wait in epoll at once, the most
    /// recently idle first, so those at the back of the line are the ones whose time runs out.)
    func retireIdleWorker() -> Bool {
        let floor = min(max(options.initialThreads, 1), options.threads)
        var started = state.startedWorkers.load(ordering: .relaxed)
        while started > floor && !state.isStopping {
            let (exchanged, current) = state.startedWorkers.compareExchange(
                expected: started, desired: started - 1, ordering: .relaxed
            )
            if exchanged { return true }
            started = current
        }
        return false
    }

    /// Starts a thread running `body` on a `Worker` of its own, with every signal blocked.
    private func startThread(name: String, _ body: @escaping @Sendable (Worker) -> Void) throws {
        // Counted before it runs: a stop that begins meanwhile waits for it too.
        state.liveWorkers.add(1, ordering: .relaxed)
        do {
            try DetachedThread.start(name: name, stackSize: options.stackSize) { [self] in
                defer { state.liveWorkers.subtract(1, ordering: .releasing) }
                var everything = sigset_t()
                sigfillset(&everything)
                pthread_sigmask(SIG_BLOCK, &everything, nil)
                body(Worker(server: self))
            }
        } catch {
            state.liveWorkers.subtract(1, ordering: .relaxed)
            throw error
        }
    }

    /// The main thread's tick: when every started worker is busy and at least half of them have
    /// been on their request for `heldMicroseconds`, one more worker starts, so that the next
    /// request finds one waiting; then the tick comes every millisecond while all stay busy.
    /// Requests that hold their worker (streams, a wait for a turn lock) so grow the pool by up
    /// to a thousand threads a second, while a burst of short requests (a thousand answers of the
    /// model arriving together, each a fraction of a millisecond of work) keeps every worker busy
    /// for a moment without starting threads it does not need. Each thread's stack and malloc
    /// caches stay resident once it has run, so threads start as the load asks for them rather
    /// than all at once; those beyond the initial ones end after `idleWorkerSeconds` without work.
    /// - Returns: whether every started worker is busy.
    private func growIfWorkersAreHeld() -> Bool {
        let started = state.startedWorkers.load(ordering: .relaxed)
        guard state.busyWorkers.load(ordering: .relaxed) >= started else { return false }
        let now = Int(MonotonicClock.now() * 1_000_000)
        let held = state.workerSlots.withLock { slots in
            slots.reduce(0) { count, slot in
                let since = slot.requestStarted.load(ordering: .relaxed)
                return count + (since != 0 && now - since >= Self.heldMicroseconds ? 1 : 0)
            }
        }
        guard held * 2 >= started else { return true }
        do {
            try startWorker()
        } catch {
            // Requests wait in the socket's backlog for the workers there are.
            if !state.workerStartFailed.exchange(true, ordering: .relaxed) {
                logger.warning(
                    "cannot start another worker thread; serving with those there are (logged once)",
                    metadata: ["threads": "\(state.startedWorkers.load(ordering: .relaxed))", "error": "\(error)"]
                )
            }
        }
        return true
    }

    /// Blocks the stop signals (and the ignored ones) in the calling thread, so that a SIGTERM
    /// arriving while askd starts waits for `run()` instead of killing it half-way. Call it
    /// first thing in `main`, before any other thread exists; `run()` calls it again.
    public static func holdSignals() {
        // A parent may have set them to SIG_IGN (a shell does for background jobs); an ignored
        // signal is discarded even when blocked, and sigwait would never see it.
        for signal in stopSignals { Glibc.signal(signal, SIG_DFL) }
        var blocked = sigset_t()
        sigemptyset(&blocked)
        for signal in stopSignals + ignoredSignals { sigaddset(&blocked, signal) }
        pthread_sigmask(SIG_BLOCK, &blocked, nil)
    }

    /// Stops accepting and wakes every idle worker.
    /// New connections are refused first; then the workers wake, answer what is already queued
    /// on askd's own socket, finish their requests and leave. Idle kept-alive connections close.
    private func beginStop() {
        state.stopping.store(true, ordering: .releasing)
        socket.stopListening()
        var byte: UInt8 = 1
        _ = write(wakeWriteFD, &byte, 1)
        readySet.stop()
    }

    /// How long responses still going when the drain time runs out get to end: a stream tells
    /// its client with an error event (a stream waiting on a silent model looks about once a second).
    static let streamEndSeconds = 2.0

    /// Waits for the workers and the responses written later to finish, up to the drain time
    /// or a second stop signal. When the drain time runs out, streamed responses still going are
    /// told to end (`ResponseChannel.mustEndNow`: with an error event that a client can tell from
    /// a complete answer) and get `streamEndSeconds` to.
    private func drain(watching stop: sigset_t) -> Int32 {
        var stop = stop
        let deadline = MonotonicClock.now() + options.drainSeconds
        var tick = timespec(tv_sec: 0, tv_nsec: 10_000_000)
        while state.liveWorkers.load(ordering: .acquiring) > 0 || state.answeringLater.load(ordering: .acquiring) > 0 {
            let now = MonotonicClock.now()
            let later = state.answeringLater.load(ordering: .acquiring)
            if now >= deadline && !state.drainRanOut.load(ordering: .relaxed) {
                state.drainRanOut.store(true, ordering: .releasing)
                if later > 0 {
                    logger.warning(
                        "drain time ran out; ending the streamed answers still going with an error event",
                        metadata: ["answers": "\(later)", "in_flight": "\(state.inFlight.load(ordering: .relaxed))"]
                    )
                }
            }
            if now >= deadline && (later == 0 || now >= deadline + Self.streamEndSeconds) {
                logger.warning(
                    "drain time ran out; exiting with requests unfinished",
                    metadata: ["in_flight": "\(state.inFlight.load(ordering: .relaxed))"]
                )
                return 1
            }
            let signal = sigtimedwait(&stop, nil, &tick)
            if signal > 0 {
                logger.warning(
                    "second stop signal; exiting at once",
                    metadata: ["signal": "\(Self.name(of: signal))", "in_flight": "\(state.inFlight.load(ordering: .relaxed))"]
                )
                return 1
            }
        }
        if state.drainRanOut.load(ordering: .relaxed) {
            socket.close()
            logger.warning("stopped after the drain time ran out: streamed answers still going ended with an error event")
            return 1
        }
        socket.close()
        logger.info("stopped cleanly: every in-flight request finished")
        return 0
    }

    private static func name(of signal: Int32) -> String {
        switch signal {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        default: "signal \(signal)"
        }
    }
}
