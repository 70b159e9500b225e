#if canImport(Glibc)
import Glibc
#endif
import CLinux
import CSQLite

/// Copies the write-ahead log back into the database file on a thread of its own.
///
/// Left to itself, SQLite checkpoints inside the commit that pushed the log past 1,000 pages:
/// that commit, and every turn waiting on it, then pays for copying the pages and syncing the
/// file. Here each connection reports its commits, and once the log is past the threshold a
/// background thread runs a passive checkpoint, which waits for no writer and blocks none.
/// Readers that never pause can keep the log from starting over; past four times the threshold,
/// a restarting checkpoint waits for them.
/// The thread starts on first need, so short-lived commands never start it.
final class Checkpointer: @unchecked Sendable {
    private let path: String
    private let thresholdFrames: Int32
    private let writerLock: WriterLock
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var started = false
    private var requested = false
    private var stopping = false
    /// No restarting checkpoint before this time (monotonic seconds), after one found readers.
    private var restartNotBefore = 0.0
    /// How much of the log the last checkpoint copied.
    private var copiedFrames: Int32 = 0
    /// The log's length at the last commit, in pages.
    private var loggedFrames: Int32 = 0
    /// Checkpoints done so far; writers held back wait for the next one.
    private var rounds = 0
    private let roundDone = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init(path: String, writerLock: WriterLock, thresholdFrames: Int32 = 1_000) {
        self.path = path
        self.writerLock = writerLock
        self.thresholdFrames = thresholdFrames
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(roundDone, nil)
    }

    deinit {
        pthread_cond_destroy(roundDone)
        roundDone.deallocate()
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        mutex.deallocate()
    }

    /// Called after every commit on a connection, with the log's length in pages.
    ///
    /// Under steady load, readers rarely let the log start over from its beginning, so it stays
    /// past the threshold; a checkpoint is then worth it only once a batch of new pages arrived.
    func committed(logFrames: Int32) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        loggedFrames = logFrames
        guard logFrames >= thresholdFrames else { return }
        let uncopied = logFrames >= copiedFrames ? logFrames - copiedFrames : logFrames
        guard !stopping, uncopied >= thresholdFrames / 4 else { return }
        requested = true
        if started {
            pthread_cond_signal(wake)
        } else {
            started = startThread()
        }
    }

    /// Called by a writer before it takes the write lock. Past four times the threshold the
    /// writers outran the checkpoints (a passive one copies while they append): the writer then
    /// waits, up to 100 ms, for the checkpoint in progress, whose restarting step needs the
    /// write lock, so that the log's length stays bounded however fast turns come.
    func holdBackWriterIfFarBehind() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard started, !stopping, loggedFrames >= thresholdFrames * 4, MonotonicClock.seconds() >= restartNotBefore else { return }
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_nsec += 100_000_000
        if deadline.tv_nsec >= 1_000_000_000 {
            deadline.tv_sec += 1
            deadline.tv_nsec -= 1_000_000_000
        }
        let round = rounds
        requested = true
        pthread_cond_signal(wake)
        while rounds == round && !stopping {
            if pthread_cond_timedwait(roundDone, mutex, &deadline) == ETIMEDOUT { break }
        }
    }

    /// Ends the thread after any checkpoint in progress.
    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
    }

    private func startThread() -> Bool {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { context in
            // A new thread inherits its creator's name, a worker's: `top -H` and perf would
            // count the checkpoints as that worker's.
            askd_set_thread_name(pthread_self(), "askd-checkpoint")
            Unmanaged<Checkpointer>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        guard rc == 0 else {
            // Without the thread, the next commits past the threshold try again.
            Unmanaged<Checkpointer>.fromOpaque(context).release()
            return false
        }
        pthread_detach(thread)
        return true
    }

    private func run() {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK else {
            sqlite3_close(db)
            pthread_mutex_lock(mutex)
            started = false
            pthread_mutex_unlock(mutex)
            return
        }
        defer { sqlite3_close_v2(db) }
        // A restarting checkpoint waits this long for readers, holding back this process's
        // writers meanwhile; a reader that stays longer (a backup) just means a later try.
        sqlite3_busy_timeout(db, 200)
        // A connection finds the log only once it has read the database.
        sqlite3_exec(db, "PRAGMA journal_mode", nil, nil, nil)
        pthread_mutex_lock(mutex)
        while !stopping {
            if requested {
                requested = false
                pthread_mutex_unlock(mutex)
                // Passive: copies what no reader still needs; a busy database just means later.
                var logged: Int32 = 0
                var copied: Int32 = 0
                sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, &logged, &copied)
                if logged >= thresholdFrames * 4 && MonotonicClock.seconds() >= restartNotBefore {
                    // Readers kept the log from starting over: wait for them, holding back this
                    // process's writers (which would otherwise starve the wait), so the log does
                    // not grow without end.
                    writerLock.lock()
                    let rc = sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_RESTART, &logged, &copied)
                    writerLock.unlock()
                    // Readers that outlast the wait: do not stall writers again for a while.
                    if rc == SQLITE_BUSY {
                        pthread_mutex_lock(mutex)
                        restartNotBefore = MonotonicClock.seconds() + 10
                        pthread_mutex_unlock(mutex)
                    }
                    // Done: the next commit starts the log over.
                    if rc == SQLITE_OK { logged = 0 }
                }
                pthread_mutex_lock(mutex)
                copiedFrames = max(copied, 0)
                loggedFrames = min(loggedFrames, max(logged, 0))
                rounds += 1
                pthread_cond_broadcast(roundDone)
            } else {
                pthread_cond_wait(wake, mutex)
            }
        }
        pthread_mutex_unlock(mutex)
    }
}

/// Seconds on the monotonic clock.
enum MonotonicClock {
    static func seconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
