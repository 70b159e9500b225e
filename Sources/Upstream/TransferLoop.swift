#if canImport(Glibc)
import Glibc
#endif
import CCurl
import CLinux
import Synchronization

/// libcurl's multi interface on one thread of its own: every plain (not streamed) upstream
/// request in flight waits here, however many there are, instead of each holding a worker
/// thread, its stack and its own connection.
///
/// Any thread may `submit` a call. The loop's thread adds it to the multi handle, drives every
/// transfer, retries a call once after a jittered pause when `outcome` says so, and hands each
/// result to the call's completion, on the loop's thread: completions pass the answer on and
/// return, they never block. Connections are the multi handle's, kept alive between calls and,
/// over HTTP/2, shared by calls in flight at once.
final class TransferLoop: @unchecked Sendable {
    /// One request: how to set a handle up for it, how to read its outcome, where its answer goes.
    struct Call: Sendable {
        /// Sets the handle up for the transfer whose unmanaged reference is the third argument;
        /// returns the header list, freed when the transfer ends.
        let prepare: @Sendable (UnsafeMutableRawPointer, Transfer, UnsafeMutableRawPointer) -> UnsafeMutablePointer<curl_slist>?
        /// The answer of a finished transfer; throws `UpstreamError`, or
        /// `OpenAIClient.RetryableFailure` when no answer has started.
        let outcome: @Sendable (CURLcode, Transfer) throws -> ChatResponse
        let completion: @Sendable (Result<ChatResponse, UpstreamError>) -> Void
        var attempt = 1
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
    private static let spareHandleLimit = 32
    /// Idle connections kept open to the upstream after a burst.
    private static let idleConnectionLimit = 64

    private let multi: UnsafeMutableRawPointer
    private let inbox = Mutex(Inbox())
    // The loop thread's own state.
    private var active: [UInt: Active] = [:]
    private var retries: [(due: ContinuousClock.Instant, call: Call)] = []
    private var spareHandles: [UnsafeMutableRawPointer] = []

    init() {
        multi = curl_multi_init()
        askd_curl_multi_set_long(multi, CURLMOPT_MAXCONNECTS, Self.idleConnectionLimit)
    }

    deinit {
        for handle in spareHandles { curl_easy_cleanup(handle) }
        curl_multi_cleanup(multi)
    }

    /// Queues `call`; the loop's thread starts on the first call.
    func submit(_ call: Call) {
        let start = inbox.withLock { inbox in
            inbox.calls.append(call)
            defer { inbox.started = true }
            return !inbox.started
        }
        if start {
            startThread()
        } else {
            curl_multi_wakeup(multi)
        }
    }

    /// Ends the loop's thread. Calls still in flight fail. Only for an owner that goes away.
    func shutdown() {
        inbox.withLock { $0.stopping = true }
        curl_multi_wakeup(multi)
    }

    private func startThread() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { context in
            let loop = Unmanaged<TransferLoop>.fromOpaque(context!).takeRetainedValue()
            askd_set_thread_name(pthread_self(), "askd-upstream")
            loop.run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<TransferLoop>.fromOpaque(context).release()
            let calls = inbox.withLock { inbox in
                defer { inbox.calls.removeAll(); inbox.started = false }
                return inbox.calls
            }
            for call in calls { call.completion(.failure(.failed(detail: "cannot start the upstream thread: error \(rc)"))) }
            return
        }
        pthread_detach(thread)
    }

    private func run() {
        var running: Int32 = 0
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
            curl_multi_perform(multi, &running)
            collectFinished()
            curl_multi_poll(multi, nil, 0, pollTimeout(), nil)
        }
    }

    private func start(_ call: Call) {
        guard let handle = spareHandles.popLast() ?? curl_easy_init() else {
            call.completion(.failure(.failed(detail: "curl_easy_init failed")))
            return
        }
        let transfer = Unmanaged.passRetained(Transfer(handle: handle, limit: OpenAIClient.maxResponseBytes, sink: nil))
        let headers = call.prepare(handle, transfer.takeUnretainedValue(), transfer.toOpaque())
        let entry = Active(call: call, transfer: transfer, headers: headers)
        let rc = curl_multi_add_handle(multi, handle)
        guard rc == CURLM_OK else {
            release(entry, handle: handle)
            call.completion(.failure(.failed(detail: "curl_multi_add_handle: \(String(cString: curl_multi_strerror(rc)))")))
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
            let result: Result<ChatResponse, UpstreamError>
            do {
                result = .success(try entry.call.outcome(code, entry.transfer.takeUnretainedValue()))
            } catch let failure as OpenAIClient.RetryableFailure {
                if entry.call.attempt == 1 {
                    var again = entry.call
                    again.attempt += 1
                    retries.append((.now + .milliseconds(Int.random(in: 100...300)), again))
                    release(entry, handle: handle)
                    continue
                }
                result = .failure(failure.error)
            } catch let error as UpstreamError {
                result = .failure(error)
            } catch {
                result = .failure(.failed(detail: "\(error)"))
            }
            release(entry, handle: handle)
            entry.call.completion(result)
        }
    }

    private func startDueRetries() {
        guard !retries.isEmpty else { return }
        let now = ContinuousClock.now
        let due = retries.filter { $0.due <= now }
        retries.removeAll { $0.due <= now }
        for retry in due { start(retry.call) }
    }

    /// Until the next retry is due, and at most a second; libcurl shortens it to its own timers.
    private func pollTimeout() -> Int32 {
        guard let next = retries.map(\.due).min() else { return 1_000 }
        let wait = ContinuousClock.now.duration(to: next)
        let milliseconds = wait.components.seconds * 1_000 + wait.components.attoseconds / 1_000_000_000_000_000
        return Int32(max(0, min(1_000, milliseconds + 1)))
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
            entry.call.completion(.failure(stopping))
        }
        active.removeAll()
        for call in queued + retries.map(\.call) { call.completion(.failure(stopping)) }
        retries.removeAll()
    }
}
