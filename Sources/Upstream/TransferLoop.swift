#if canImport(Glibc)
import Glibc
#endif
import CCurl
import CLinux
import Platform
import Synchronization

/// libcurl's multi interface on one thread of its own: every upstream request in flight, plain
/// or streamed, waits here, however many there are, instead of each holding a worker thread,
/// its stack and its own connection.
///
/// Any thread may `submit` a call. The loop's thread adds it to the multi handle, drives every
/// transfer, retries a call once after a jittered pause when `outcome` says so, and hands each
/// result to the call's completion, on the loop's thread: completions pass the answer on and
/// return, they never block. Connections are the multi handle's, kept alive between calls and,
/// over HTTP/2, shared by calls in flight at once.
///
/// The loop uses libcurl's socket interface: libcurl names the sockets to watch and its next
/// timeout, the loop waits on them with epoll and tells libcurl which one is ready. Each event
/// costs the same with ten transfers in flight or a thousand (`curl_multi_perform` would visit
/// every transfer on every wake-up).
final class TransferLoop: @unchecked Sendable {
    /// One request: how to set a handle up for it, and how to read and hand on its outcome.
    struct Call: Sendable {
        /// Where a streamed answer's events go, on the loop's thread; nil for a plain answer.
        let reader: (any StreamReader)?
        /// The longest silence of a streamed answer.
        let silenceLimit: Duration?
        /// Sets the handle up for the transfer whose unmanaged reference is the third argument;
        /// returns the header list, freed when the transfer ends.
        let prepare: @Sendable (UnsafeMutableRawPointer, Transfer, UnsafeMutableRawPointer) -> UnsafeMutablePointer<curl_slist>?
        /// Reads the outcome of a finished transfer and hands it on; returns true, handing
        /// nothing on, when it failed before any answer started and the third argument allows
        /// one more attempt.
        let finish: @Sendable (CURLcode, Transfer, Bool) -> Bool
        /// Hands on the failure of a call that could not run.
        let fail: @Sendable (any Error) -> Void
        var attempt = 1

        /// A call whose `outcome` reads the answer of a finished transfer (throwing
        /// `UpstreamError`, or `OpenAIClient.RetryableFailure` when no answer has started) and
        /// whose `completion` gets it, exactly once.
        static func reading<Answer>(
            reader: (any StreamReader)?, silenceLimit: Duration?,
            prepare: @escaping @Sendable (UnsafeMutableRawPointer, Transfer, UnsafeMutableRawPointer) -> UnsafeMutablePointer<curl_slist>?,
            outcome: @escaping @Sendable (CURLcode, Transfer) throws -> Answer,
            completion: @escaping @Sendable (Result<Answer, any Error>) -> Void
        ) -> Call {
            Call(
                reader: reader, silenceLimit: silenceLimit, prepare: prepare,
                finish: { code, transfer, mayRetry in
                    let result: Result<Answer, any Error>
                    do {
                        result = .success(try outcome(code, transfer))
                    } catch let failure as OpenAIClient.RetryableFailure {
                        if mayRetry { return true }
                        result = .failure(failure.error)
                    } catch {
                        result = .failure(error)
                    }
                    completion(result)
                    return false
                },
                fail: { completion(.failure($0)) }
            )
        }
    }

    /// A call on the multi handle: touched by the loop's thread only.
    private struct Active {
        let call: Call
        let transfer: Unmanaged<Transfer>
        let headers: UnsafeMutablePointer<curl_slist>?
    }

    private struct Inbox {
        var calls: [Call] = []
        var started = false
        var stopping = false
    }

    /// How many finished handles are kept for reuse; more are freed.
    private static let spareHandleLimit = 8
    /// Idle connections kept open to the upstream after a burst.
    private static let idleConnectionLimit = 64

    /// Calls submitted and not yet completed (retries included).
    let inFlight = Atomic<Int>(0)
    private let multi: UnsafeMutableRawPointer
    private let epoll: Int32
    /// Readable when calls wait in the inbox or the loop should stop.
    private let wakeFD: Int32
    private let inbox = Locked(Inbox())
    // The loop thread's own state.
    private var active: [UInt: Active] = [:]
    private var retries: [(due: ContinuousClock.Instant, call: Call)] = []
    private var spareHandles: [UnsafeMutableRawPointer] = []
    /// When libcurl wants `curl_multi_socket_action` for its timeouts; nil when it wants nothing.
    private var timerDue: ContinuousClock.Instant?
    /// When the streams in flight are next looked at (`tickStreams`).
    private var streamTickDue = ContinuousClock.now

    /// The epoll tag of `wakeFD`; sockets are tagged with their descriptor.
    private static let wakeTag = UInt64.max

    init() {
        multi = curl_multi_init()
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        askd_curl_multi_set_long(multi, CURLMOPT_MAXCONNECTS, Self.idleConnectionLimit)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeTag
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeFD, &event)
        // The callbacks get this loop back as their context; it outlives the multi handle.
        let context = Unmanaged.passUnretained(self).toOpaque()
        askd_curl_multi_set_socket_callback(multi, { _, socket, what, context, _ in
            Unmanaged<TransferLoop>.fromOpaque(context!).takeUnretainedValue().watch(socket, what: what)
            return 0
        }, context)
        askd_curl_multi_set_timer_callback(multi, { _, milliseconds, context in
            let loop = Unmanaged<TransferLoop>.fromOpaque(context!).takeUnretainedValue()
            loop.timerDue = milliseconds < 0 ? nil : .now + .milliseconds(milliseconds)
            return 0
        }, context)
    }

    deinit {
        for handle in spareHandles { curl_easy_cleanup(handle) }
        curl_multi_cleanup(multi)
        close(wakeFD)
        close(epoll)
    }

    /// Queues `call`; the loop's thread starts on the first call.
    func submit(_ call: Call) {
        inFlight.add(1, ordering: .relaxed)
        let start = inbox.withLock { inbox in
            inbox.calls.append(call)
            defer { inbox.started = true }
            return !inbox.started
        }
        if start {
            startThread()
        } else {
            wake()
        }
    }

    /// Ends the loop's thread. Calls still in flight fail. Only for an owner that goes away.
    func shutdown() {
        inbox.withLock { $0.stopping = true }
        wake()
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private func startThread() {
        do {
            try DetachedThread.start(name: "askd-upstream") { [self] in run() }
        } catch {
            let calls = inbox.withLock { inbox in
                defer { inbox.calls.removeAll(); inbox.started = false }
                return inbox.calls
            }
            for call in calls { complete(call, with: UpstreamError.failed(detail: "cannot start the upstream thread: \(error)")) }
        }
    }

    private func run() {
        var running: Int32 = 0
        var events = [epoll_event](repeating: epoll_event(), count: 128)
        while true {
            let (calls, stopping) = inbox.withLock { inbox in
                defer { inbox.calls.removeAll(keepingCapacity: true) }
                return (inbox.calls, inbox.stopping)
            }
            if stopping {
                abandon(calls)
                return
            }
            for call in calls { start(call) }
            startDueRetries()
            let ready = epoll_wait(epoll, &events, Int32(events.count), waitTimeout())
            for event in events.prefix(Int(max(ready, 0))) {
                if event.data.u64 == Self.wakeTag {
                    var count: UInt64 = 0
                    _ = read(wakeFD, &count, 8)
                    continue
                }
                curl_multi_socket_action(multi, Int32(truncatingIfNeeded: event.data.u64), Self.readiness(event.events), &running)
            }
            if let due = timerDue, due <= .now {
                timerDue = nil
                curl_multi_socket_action(multi, askd_curl_socket_timeout, 0, &running)
            }
            collectFinished()
            if ContinuousClock.now >= streamTickDue {
                streamTickDue = .now + .seconds(1)
                tickStreams()
            }
        }
    }

    /// Once a second, each stream is told (`Transfer.tick`) even when its upstream is silent:
    /// libcurl's progress callback comes only with activity on a transfer's socket, and a
    /// silent stream must still keep its client's connection alive, notice a client that left,
    /// and end when the silence passes its limit. A stream that gives up is cut here.
    private func tickStreams() {
        for (address, entry) in active where entry.call.reader != nil {
            let transfer = entry.transfer.takeUnretainedValue()
            guard !transfer.tick() else { continue }
            let handle = UnsafeMutableRawPointer(bitPattern: address)!
            curl_multi_remove_handle(multi, handle)
            active[address] = nil
            inFlight.subtract(1, ordering: .relaxed)
            _ = entry.call.finish(CURLE_ABORTED_BY_CALLBACK, transfer, false)
            release(entry, handle: handle)
        }
    }

    /// libcurl's socket callback: watch `socket` for what it says, or stop watching it.
    private func watch(_ socket: Int32, what: Int32) {
        guard what != CURL_POLL_REMOVE else {
            epoll_ctl(epoll, EPOLL_CTL_DEL, socket, nil)
            return
        }
        var event = epoll_event()
        event.events = (what & CURL_POLL_IN != 0 ? EPOLLIN.rawValue : 0) | (what & CURL_POLL_OUT != 0 ? EPOLLOUT.rawValue : 0)
        event.data.u64 = UInt64(UInt32(bitPattern: socket))
        if epoll_ctl(epoll, EPOLL_CTL_MOD, socket, &event) != 0 {
            epoll_ctl(epoll, EPOLL_CTL_ADD, socket, &event)
        }
    }

    /// epoll's events as libcurl's `CURL_CSELECT_*` bits. A hang-up is reported as readable too,
    /// so that libcurl reads the end of the stream.
    private static func readiness(_ events: UInt32) -> Int32 {
        var bits: Int32 = 0
        if events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 { bits |= CURL_CSELECT_IN }
        if events & EPOLLOUT.rawValue != 0 { bits |= CURL_CSELECT_OUT }
        if events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 { bits |= CURL_CSELECT_ERR }
        return bits
    }

    private func start(_ call: Call) {
        guard let handle = spareHandles.popLast() ?? curl_easy_init() else {
            complete(call, with: UpstreamError.failed(detail: "curl_easy_init failed"))
            return
        }
        let transfer = Unmanaged.passRetained(Transfer(
            handle: handle, limit: OpenAIClient.maxResponseBytes, reader: call.reader, silenceLimit: call.silenceLimit
        ))
        let headers = call.prepare(handle, transfer.takeUnretainedValue(), transfer.toOpaque())
        let entry = Active(call: call, transfer: transfer, headers: headers)
        let rc = curl_multi_add_handle(multi, handle)
        guard rc == CURLM_OK else {
            release(entry, handle: handle)
            complete(call, with: UpstreamError.failed(detail: "curl_multi_add_handle: \(String(cString: curl_multi_strerror(rc)))"))
            return
        }
        active[UInt(bitPattern: handle)] = entry
    }

    private func collectFinished() {
        var queued: Int32 = 0
        while let message = curl_multi_info_read(multi, &queued) {
            guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
            // Read before the removal, which frees the message.
            let code = askd_curl_message_result(message)
            curl_multi_remove_handle(multi, handle)
            guard let entry = active.removeValue(forKey: UInt(bitPattern: handle)) else { continue }
            inFlight.subtract(1, ordering: .relaxed)
            if entry.call.finish(code, entry.transfer.takeUnretainedValue(), entry.call.attempt == 1) {
                inFlight.add(1, ordering: .relaxed)
                var again = entry.call
                again.attempt += 1
                retries.append((.now + .milliseconds(Int.random(in: 100...300)), again))
            }
            release(entry, handle: handle)
        }
    }

    /// Fails a call that could not run.
    private func complete(_ call: Call, with error: any Error) {
        inFlight.subtract(1, ordering: .relaxed)
        call.fail(error)
    }

    private func startDueRetries() {
        guard !retries.isEmpty else { return }
        let now = ContinuousClock.now
        let due = retries.filter { $0.due <= now }
        retries.removeAll { $0.due <= now }
        for retry in due { start(retry.call) }
    }

    /// Until libcurl's timer, the next retry or the streams' tick is due, and at most a second.
    private func waitTimeout() -> Int32 {
        let tick = active.isEmpty ? nil : streamTickDue
        guard let next = ([timerDue, tick].compactMap { $0 } + retries.map(\.due)).min() else { return 1_000 }
        let wait = ContinuousClock.now.duration(to: next)
        let milliseconds = wait.components.seconds * 1_000 + (wait.components.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(max(0, min(1_000, milliseconds)))
    }

    private func release(_ entry: Active, handle: UnsafeMutableRawPointer) {
        curl_slist_free_all(entry.headers)
        entry.transfer.release()
        if spareHandles.count < Self.spareHandleLimit {
            spareHandles.append(handle)
        } else {
            curl_easy_cleanup(handle)
        }
    }

    /// At shutdown: every call still waiting, in flight or queued, fails.
    private func abandon(_ queued: [Call]) {
        let stopping = UpstreamError.failed(detail: "the upstream client was shut down")
        for (address, entry) in active {
            let handle = UnsafeMutableRawPointer(bitPattern: address)!
            curl_multi_remove_handle(multi, handle)
            release(entry, handle: handle)
            complete(entry.call, with: stopping)
        }
        active.removeAll()
        for call in queued + retries.map(\.call) { complete(call, with: stopping) }
        retries.removeAll()
    }
}

/// Several `TransferLoop`s, started as the calls in flight need them.
///
/// libcurl looks for a connection to reuse by going through every connection its multi handle
/// holds to the host: with a thousand calls in flight on one handle, that walk cost about half a
/// millisecond per call, on one thread. Here a call goes to the first loop with fewer than
/// `callsPerLoop` calls in flight, so that each handle holds a few dozen connections; only when
/// all `maxLoops` are that busy does the least busy take more. A light load stays on the first
/// loop, and its kept-alive connections.
final class TransferLoopPool: Sendable {
    static let callsPerLoop = 64
    static let maxLoops = 16

    private let loops = Locked<[TransferLoop]>([])

    func submit(_ call: TransferLoop.Call) {
        let loop = loops.withLock { loops in
            if let open = loops.first(where: { $0.inFlight.load(ordering: .relaxed) < Self.callsPerLoop }) { return open }
            guard loops.count >= Self.maxLoops else {
                loops.append(TransferLoop())
                return loops[loops.count - 1]
            }
            return loops.min { $0.inFlight.load(ordering: .relaxed) < $1.inFlight.load(ordering: .relaxed) }!
        }
        loop.submit(call)
    }

    /// Ends every loop's thread; calls still in flight fail.
    func shutdown() {
        for loop in loops.withLock({ $0 }) { loop.shutdown() }
    }
}
