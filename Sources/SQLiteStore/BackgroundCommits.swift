#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Store

/// Commits turns handed over without waiting, on a thread of its own: each round takes the turns
/// queued since the last (up to `batchLimit`) and commits them together, then reports each
/// one's outcome.
///
/// Threads that wait for their commit (`GroupCommit`) batch only as many turns as there are
/// threads waiting at once. Deferred answers were finished by four threads, one commit each:
/// 1.2 turns per transaction, about 100 µs of askd's CPU per turn. Here a burst of answers
/// becomes a few large transactions. The thread starts on first need and ends at `stop`, once
/// the queue is empty.
final class BackgroundCommits: @unchecked Sendable {
    typealias Completion = @Sendable (Result<Void, any Error>) -> Void

    /// The most turns in one round: a transaction holds the write lock, which other writers
    /// (workers' own turns, turn locks) wait for, and each turn's answer waits for its batch.
    static var batchLimit: Int { 128 }

    private let commit: ([Turn]) -> [Result<Void, any Error>]
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let posted = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [(item: Turn, completion: Completion)] = []
    private var started = false
    private var stopping = false

    /// - Parameter commit: commits a batch, returning one result per item, in order. It runs on
    ///   this object's thread, which it must not keep a reference to the owner from.
    init(commit: @escaping ([Turn]) -> [Result<Void, any Error>]) {
        self.commit = commit
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(posted, nil)
    }

    deinit {
        pthread_cond_destroy(posted)
        pthread_mutex_destroy(mutex)
        posted.deallocate()
        mutex.deallocate()
    }

    /// Queues `item`; `completion` gets its outcome, on this object's thread, or on the
    /// caller's before this returns when the turn is refused (after `stop`, or when the thread
    /// cannot start).
    func submit(_ item: Turn, completion: @escaping Completion) {
        pthread_mutex_lock(mutex)
        guard !stopping else {
            pthread_mutex_unlock(mutex)
            completion(.failure(StoreError.unavailable("the store is closed")))
            return
        }
        queue.append((item, completion))
        if !started { started = startThread() }
        let running = started
        let refused = running ? [] : queue
        if !running { queue.removeAll() }
        pthread_mutex_unlock(mutex)
        if running {
            pthread_cond_signal(posted)
        } else {
            for waiting in refused { waiting.completion(.failure(StoreError.unavailable("cannot start the commit thread"))) }
        }
    }

    /// Ends the thread once every queued item is settled.
    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_mutex_unlock(mutex)
        pthread_cond_signal(posted)
    }

    private func startThread() -> Bool {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { context in
            let commits = Unmanaged<BackgroundCommits>.fromOpaque(context!).takeRetainedValue()
            askd_set_thread_name(pthread_self(), "askd-commit")
            commits.run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<BackgroundCommits>.fromOpaque(context).release()
            return false
        }
        pthread_detach(thread)
        return true
    }

    private func run() {
        while true {
            pthread_mutex_lock(mutex)
            while queue.isEmpty && !stopping { pthread_cond_wait(posted, mutex) }
            let batch = Array(queue.prefix(Self.batchLimit))
            queue.removeFirst(batch.count)
            let done = batch.isEmpty && stopping
            pthread_mutex_unlock(mutex)
            if done { return }
            let results = commit(batch.map(\.item))
            precondition(results.count == batch.count, "a commit must settle every item")
            for (waiting, result) in zip(batch, results) { waiting.completion(result) }
        }
    }
}
