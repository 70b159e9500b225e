import CSQLite
import Platform

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
    private let writerLock: Lock
    private let mutex = Lock()
    private let wake = Condition()
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
    private let roundDone = Condition()

    init(path: String, writerLock: Lock, thresholdFrames: Int32 = 1_000) {
        self.path = path
        self.writerLock = writerLock
        self.thresholdFrames = thresholdFrames
    }

    /// Called after every commit on a connection, with the log's length in pages.
    ///
    /// Under steady load, readers rarely let the log start over from its beginning, so it stays
    /// past the threshold; a checkpoint is then worth it only once a batch of new pages arrived.
    func committed(logFrames: Int32) {
        mutex.lock()
        defer { mutex.unlock() }
        loggedFrames = logFrames
        guard logFrames >= thresholdFrames else { return }
        let uncopied = logFrames >= copiedFrames ? logFrames - copiedFrames : logFrames
        guard !stopping, uncopied >= thresholdFrames / 4 else { return }
        requested = true
        if started {
            wake.signal()
        } else {
            started = startThread()
        }
    }

    /// Called by a writer before it takes the write lock. Past four times the threshold the
    /// writers outran the checkpoints (a passive one copies while they append): the writer then
    /// waits, up to 100 ms, for the checkpoint in progress, whose restarting step needs the
    /// write lock, so that the log's length stays bounded however fast turns come.
    func holdBackWriterIfFarBehind() {
        mutex.lock()
        defer { mutex.unlock() }
        guard started, !stopping, loggedFrames >= thresholdFrames * 4, MonotonicClock.now() >= restartNotBefore else { return }
        let deadline = Deadline(after: 0.1)
        let round = rounds
        requested = true
        wake.signal()
        while rounds == round && !stopping {
            if !roundDone.wait(mutex, until: deadline) { break }
        }
    }

    /// Ends the thread after any checkpoint in progress.
    func stop() {
        mutex.lock()
        stopping = true
        wake.signal()
        mutex.unlock()
    }

    /// Without the thread, the next commits past the threshold try again.
    private func startThread() -> Bool {
        (try? DetachedThread.start(name: "askd-checkpoint") { self.run() }) != nil
    }

    private func run() {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK else {
            sqlite3_close(db)
            mutex.lock()
            started = false
            mutex.unlock()
            return
        }
        defer { sqlite3_close_v2(db) }
        // A restarting checkpoint waits this long for readers, holding back this process's
        // writers meanwhile; a reader that stays longer (a backup) just means a later try.
        sqlite3_busy_timeout(db, 200)
        // A connection finds the log only once it has read the database.
        sqlite3_exec(db, "PRAGMA journal_mode", nil, nil, nil)
        mutex.lock()
        while !stopping {
            if requested {
                requested = false
                mutex.unlock()
                // Passive: copies what no reader still needs; a busy database just means later.
                var logged: Int32 = 0
                var copied: Int32 = 0
                sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, &logged, &copied)
                if logged >= thresholdFrames * 4 && MonotonicClock.now() >= restartNotBefore {
                    // Readers kept the log from starting over: wait for them, holding back this
                    // process's writers (which would otherwise starve the wait), so the log does
                    // not grow without end.
                    writerLock.lock()
                    let rc = sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_RESTART, &logged, &copied)
                    writerLock.unlock()
                    // Readers that outlast the wait: do not stall writers again for a while.
                    if rc == SQLITE_BUSY {
                        mutex.lock()
                        restartNotBefore = MonotonicClock.now() + 10
                        mutex.unlock()
                    }
                    // Done: the next commit starts the log over.
                    if rc == SQLITE_OK { logged = 0 }
                }
                mutex.lock()
                copiedFrames = max(copied, 0)
                loggedFrames = min(loggedFrames, max(logged, 0))
                rounds += 1
                roundDone.broadcast()
            } else {
                wake.wait(mutex)
            }
        }
        mutex.unlock()
    }
}
