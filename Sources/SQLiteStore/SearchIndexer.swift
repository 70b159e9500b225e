import Platform

/// Indexes the changes queued in `search_queue` (`SQLiteSearchSchema.deferredIndexing`) on a
/// thread of its own, in batches, so that no turn's transaction writes the search index.
///
/// A connection that commits while changes are queued says so (`changesQueued`); the thread
/// waits `gathering` seconds, so that the changes of many turns share a batch and an FTS5
/// segment, then indexes the queue `batchLimit` changes a transaction, pausing between batches
/// so that the turns' writers are not kept waiting behind one batch after another. The queue
/// is in the database: changes committed by any process, or left by one that stopped, are
/// indexed by the next batch of any process, or by the next search (`indexQueue(on:)`). The
/// thread starts on first need, so short-lived commands never start it.
final class SearchIndexer: @unchecked Sendable {
    /// The most queued changes indexed in one transaction, which holds the write lock.
    static let batchLimit = 128
    let gathering: Double
    /// Opens the thread's own connection, one that reports its commits to no indexer.
    private let open: () throws -> SQLiteConnection
    private let mutex = Lock()
    private let wake = Condition()
    private var started = false
    private var requested = false
    private var stopping = false
    /// The thread waits for `wake` rather than for its next round.
    private var waiting = false

    init(gathering: Double = 0.1, open: @escaping () throws -> SQLiteConnection) {
        self.gathering = gathering
        self.open = open
    }

    /// Called after a commit that left changes in the queue. While changes keep coming the
    /// thread looks every `gathering` seconds on its own: a commit wakes it only after a quiet
    /// second, so that a turn's answer does not wait for a wake-up.
    func changesQueued() {
        mutex.lock()
        defer { mutex.unlock() }
        guard !stopping else { return }
        requested = true
        if !started {
            started = (try? DetachedThread.start(name: "askd-search-index") { self.run() }) != nil
        } else if waiting {
            wake.signal()
        }
    }

    /// Ends the thread after the batch in progress; what is still queued waits for a search or
    /// for the next process.
    func stop() {
        mutex.lock()
        stopping = true
        wake.signal()
        mutex.unlock()
    }

    private var isStopping: Bool {
        mutex.lock()
        defer { mutex.unlock() }
        return stopping
    }

    /// Rounds without changes after which the thread waits to be woken.
    private static let quietRounds = 10

    private func run() {
        var connection: SQLiteConnection?
        var quiet = 0
        while true {
            mutex.lock()
            if !requested && quiet >= Self.quietRounds {
                waiting = true
                while !requested && !stopping { wake.wait(mutex) }
                waiting = false
                quiet = 0
            }
            let stop = stopping
            mutex.unlock()
            if stop { return }
            DetachedThread.sleep(seconds: gathering)
            mutex.lock()
            let work = requested
            requested = false
            mutex.unlock()
            guard work else {
                quiet += 1
                continue
            }
            do {
                let db = try connection ?? open()
                connection = db
                // Between batches, as long a pause as the batch took: a writer that waits for
                // the lock meanwhile gets it, rather than this thread taking it again at once.
                while !isStopping {
                    let started = MonotonicClock.now()
                    let more = try Self.indexBatch(on: db)
                    let took = MonotonicClock.now() - started
                    guard more else { break }
                    DetachedThread.sleep(seconds: max(took, 0.000_5))
                }
            } catch {
                // A busy or failing database: try again in a second; the queue keeps the changes.
                connection = nil
                DetachedThread.sleep(seconds: 1)
                mutex.lock()
                requested = true
                mutex.unlock()
            }
        }
    }

    /// Indexes every change queued so far, a batch a transaction, on `db`; with nothing queued,
    /// it only reads. Changes queued meanwhile are left to the indexer.
    static func indexQueue(on db: SQLiteConnection) throws {
        guard let last = try db.query(SQLiteSearchSchema.lastQueued, []) { $0.integer(0) }.first ?? nil else { return }
        while try indexBatch(on: db, through: last) {}
    }

    /// Indexes up to `batchLimit` queued changes, the oldest first and none after `last`, in one
    /// transaction.
    /// - Returns: whether more may be queued.
    static func indexBatch(on db: SQLiteConnection, through last: Int64 = .max) throws -> Bool {
        try db.writeTransaction(reportingQueue: false) {
            let end = try db.query(SQLiteSearchSchema.batchEnd, [.integer(Int64(batchLimit)), .integer(last)]) { $0.integer(0) }.first ?? nil
            guard let end else { return false }
            for statement in SQLiteSearchSchema.indexBatch { try db.execute(statement, [.integer(end)]) }
            let indexed = db.changes
            try db.flushSearchIndex()
            return indexed >= batchLimit && end < last
        }
    }
}
