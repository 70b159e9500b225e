#if canImport(Glibc)
import Glibc
#endif
import Platform

/// Where log lines go: one file descriptor (stderr, which journald collects), written by one
/// thread at a time, in as few write(2) calls as the load allows.
///
/// An info line (any line not written with `waitUntilWritten`) is queued, and the sink's own
/// drain thread writes the queue a moment later (`gatherMicroseconds`), so that the lines of that
/// moment go out together in one write(2): a request's line costs its worker no system call,
/// only a lock and a copy. Under load one write(2) carries many lines and threads do not queue
/// on the file's own lock; however slow the reader (journald, a disk), workers are not held up
/// unless the queue outgrows `backlogLimit`. A line written with `waitUntilWritten` (askd uses it
/// for notices, warnings and errors) is written by its own thread at once, with whatever was
/// queued before it, unless a write is in progress; either way the call returns only once the
/// line is out, so that it is, say, before the process exits.
public final class LogSink: @unchecked Sendable {
    /// The sink for stderr, shared by every logger of the process.
    public static let standardError = LogSink(fd: STDERR_FILENO)
    /// Queued bytes beyond which a thread waits for the write itself: a stalled log reader slows
    /// askd down rather than growing its memory.
    static let backlogLimit = 1 << 20
    /// The largest buffer kept for reuse between writes.
    private static let spareLimit = 64 << 10
    /// How long the drain thread gathers info lines before it writes them: long enough that one
    /// wake writes many lines under load (BENCHMARKS.md). Each line carries its own time stamp,
    /// so the wait changes no figure in the log.
    static let gatherMicroseconds: UInt32 = 10_000

    /// What the drain thread has been asked to do.
    private enum DrainRequest {
        case none
        /// Write the queue after gathering for a moment, once no other thread is writing.
        case gather
        /// Write the queue now: a writer that found lines queued behind its own has handed over
        /// the fd (`writing` stays true).
        case handOver
    }

    private let fd: Int32
    private let mutex = Lock()
    /// Signalled after each write, for the threads waiting until their line is written.
    private let written = Condition()
    /// Signalled when the drain thread is handed the queue.
    private let drainWake = Condition()
    /// Lines queued while a write is in progress.
    private var pending: [UInt8] = []
    /// An emptied batch, kept to reuse its storage.
    private var spare: [UInt8] = []
    /// Whether a thread (a caller, or the drain thread) is writing; it then owns the fd.
    private var writing = false
    private var drainRequest = DrainRequest.none
    private var drainStarted = false
    /// Set once starting the drain thread failed: the callers then write their own lines, and
    /// no further thread is tried (a try per line, under the mutex, would cost every worker).
    private var drainFailed = false
    /// Bytes queued and bytes written since the start: a line is written when `writtenBytes`
    /// reaches the `queuedBytes` its queuing produced.
    private var queuedBytes = 0
    private var writtenBytes = 0

    public convenience init(fd: Int32) {
        self.init(fd: fd, drainThread: true)
    }

    /// `drainThread: false` makes a sink as it is when its drain thread could not start (for tests).
    init(fd: Int32, drainThread: Bool) {
        self.fd = fd
        drainFailed = !drainThread
    }

    /// Queues `line` (which ends with a newline) for the drain thread or, with
    /// `waitUntilWritten`, writes it, and returns once it is written.
    public func write(_ line: [UInt8], waitUntilWritten: Bool = false) {
        mutex.lock()
        defer { mutex.unlock() }
        pending += line
        queuedBytes += line.count
        let mine = queuedBytes
        let overBacklog = pending.count > Self.backlogLimit
        if !waitUntilWritten && !overBacklog && startDrainThreadIfNeeded() {
            if drainRequest == .none && !writing {
                drainRequest = .gather
                drainWake.signal()
            }
            return
        }
        if writing {
            if waitUntilWritten || overBacklog { wait(until: mine) }
            return
        }
        writing = true
        writeBatch()
        if pending.isEmpty {
            writing = false
        } else {
            handToDrainThread()
            if waitUntilWritten { wait(until: mine) }
        }
    }

    /// Returns once every line queued so far is written: before the process exits.
    public func flush() {
        mutex.lock()
        wait(until: queuedBytes)
        mutex.unlock()
    }

    /// Returns once every line queued so far is written, or after `seconds`, whichever comes
    /// first: for an exit that must not hang on a stalled log reader.
    /// - Returns: whether every line was written.
    @discardableResult
    public func flush(waitingAtMost seconds: Double) -> Bool {
        let deadline = Deadline(after: seconds)
        mutex.lock()
        defer { mutex.unlock() }
        let target = queuedBytes
        while writtenBytes < target {
            if !written.wait(mutex, until: deadline) { return writtenBytes >= target }
        }
        return true
    }

    /// Whether a thread is writing now (for tests).
    var isWriting: Bool {
        mutex.lock()
        defer { mutex.unlock() }
        return writing
    }

    /// Waits, with the mutex held, until the first `bytes` queued are written.
    private func wait(until bytes: Int) {
        while writtenBytes < bytes { written.wait(mutex) }
    }

    /// Takes the queue and writes it, with the mutex held on entry and on return (not during
    /// the write). The caller must be the writing thread.
    private func writeBatch() {
        var batch = pending
        pending = spare
        spare = []
        mutex.unlock()
        writeAll(batch)
        let count = batch.count
        batch.removeAll(keepingCapacity: batch.capacity <= Self.spareLimit)
        mutex.lock()
        spare = batch
        writtenBytes += count
        written.broadcast()
    }

    /// Gives the queue, and the fd, to the drain thread. Without a thread (none could start),
    /// the caller writes the queue itself.
    private func handToDrainThread() {
        guard startDrainThreadIfNeeded() else {
            while !pending.isEmpty { writeBatch() }
            writing = false
            return
        }
        drainRequest = .handOver
        drainWake.signal()
    }

    /// Starts the drain thread the first time; `false` if it could not start, then or before.
    private func startDrainThreadIfNeeded() -> Bool {
        if !drainStarted && !drainFailed {
            drainStarted = startDrainThread()
            drainFailed = !drainStarted
        }
        return drainStarted
    }

    private func drain() {
        mutex.lock()
        while true {
            while drainRequest == .none { drainWake.wait(mutex) }
            if drainRequest == .gather {
                mutex.unlock()
                usleep(Self.gatherMicroseconds)
                mutex.lock()
                // A caller may be writing (a notice, with the lines queued before it); wait for
                // it, unless it hands the fd over meanwhile.
                while drainRequest == .gather && writing { written.wait(mutex) }
                writing = true
            }
            while !pending.isEmpty { writeBatch() }
            drainRequest = .none
            writing = false
        }
    }

    /// The thread keeps the sink: a sink with a drain thread lives as long as the process. It
    /// inherits the caller's signal mask: askd's threads all block the stop signals.
    private func startDrainThread() -> Bool {
        (try? DetachedThread.start(name: "askd-log", stackSize: 64 << 10) { self.drain() }) != nil
    }

    /// Writes every byte, or gives up on an error: a log that cannot be written must not stop
    /// the request that logs. A non-blocking fd that is full is waited for, up to a second.
    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let count = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if count > 0 {
                    offset += count
                    continue
                }
                if count < 0 && errno == EINTR { continue }
                if count < 0 && errno == EAGAIN {
                    var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    if poll(&ready, 1, 1000) > 0 { continue }
                }
                return
            }
        }
    }
}
