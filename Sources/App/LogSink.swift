#if canImport(Glibc)
import Glibc
#endif

/// Where log lines go: one file descriptor (stderr, which journald collects), written by one
/// thread at a time, in as few write(2) calls as the load allows.
///
/// Whoever finds no write in progress writes its line at once, and then whatever other threads
/// queued meanwhile, until nothing is left. A thread that finds a write in progress queues its
/// line and goes on: the writing thread takes it along within one more write(2). So alone, a
/// line costs one write(2), as before; under load, one write(2) carries many lines, and threads
/// no longer queue on the file's own lock. A log file on ext4 cost askd about 10 µs per request
/// line when every worker wrote its own (measured on /healthz, 2 cores).
///
/// `write(_:waitUntilWritten:)` with `true` returns only once the line is written (askd uses it
/// for notices, warnings and errors, so that they are out before, say, the process exits).
public final class LogSink: @unchecked Sendable {
    /// The sink for stderr, shared by every logger of the process.
    public static let standardError = LogSink(fd: STDERR_FILENO)
    /// Queued bytes beyond which a thread waits for the write, as it did before there was a
    /// queue: a stalled log reader slows askd down rather than growing its memory.
    static let backlogLimit = 1 << 20

    private let fd: Int32
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Signalled after each write, for the threads waiting until their line is written.
    private let written = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Lines queued while a write is in progress.
    private var pending: [UInt8] = []
    /// The buffer the writing thread writes from; kept to reuse its storage.
    private var spare: [UInt8] = []
    private var writing = false
    /// Bytes queued and bytes written since the start: a line is written when `writtenBytes`
    /// reaches the `queuedBytes` its queuing produced.
    private var queuedBytes = 0
    private var writtenBytes = 0

    public init(fd: Int32) {
        self.fd = fd
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(written, nil)
    }

    deinit {
        pthread_cond_destroy(written)
        pthread_mutex_destroy(mutex)
        written.deallocate()
        mutex.deallocate()
    }

    /// Writes `line` (which ends with a newline), or queues it for the thread that is writing.
    public func write(_ line: [UInt8], waitUntilWritten: Bool = false) {
        pthread_mutex_lock(mutex)
        pending += line
        queuedBytes += line.count
        let mine = queuedBytes
        if writing {
            if waitUntilWritten || pending.count > Self.backlogLimit {
                while writtenBytes < mine { pthread_cond_wait(written, mutex) }
            }
            pthread_mutex_unlock(mutex)
            return
        }
        writing = true
        while !pending.isEmpty {
            var batch = spare
            swap(&batch, &pending)
            pthread_mutex_unlock(mutex)
            writeAll(batch)
            let count = batch.count
            batch.removeAll(keepingCapacity: true)
            pthread_mutex_lock(mutex)
            spare = batch
            writtenBytes += count
            pthread_cond_broadcast(written)
        }
        writing = false
        pthread_mutex_unlock(mutex)
    }

    /// Returns once every line queued so far is written: before the process exits.
    public func flush() {
        pthread_mutex_lock(mutex)
        let queued = queuedBytes
        while writtenBytes < queued { pthread_cond_wait(written, mutex) }
        pthread_mutex_unlock(mutex)
    }

    /// Writes every byte, or gives up on an error: a log that cannot be written must not stop
    /// the request that logs.
    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let count = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return }
                offset += count
            }
        }
    }
}
