import Platform
import Store

/// Commits turns handed over without waiting, on a thread of its own: each round takes the turns
/// queued since the last (up to `batchLimit`) and commits them together, then reports each
/// one's outcome.
///
/// Threads that wait for their commit (`GroupCommit`) batch only as many turns as there are
/// threads waiting at once; here a burst of answers becomes a few large transactions. The thread
/// starts on first need and ends at `stop`, once the queue is empty.
final class BackgroundCommits: @unchecked Sendable {
    typealias Completion = @Sendable (Result<Void, any Error>) -> Void

    /// The most turns in one round: a transaction holds the write lock, which other writers
    /// (workers' own turns, turn locks) wait for, and each turn's answer waits for its batch.
    static var batchLimit: Int { 128 }

    private let commit: ([Turn]) -> [Result<Void, any Error>]
    private let mutex = Lock()
    private let posted = Condition()
    private var queue: [(item: Turn, completion: Completion)] = []
    private var started = false
    private var stopping = false

    /// - Parameter commit: commits a batch, returning one result per item, in order. It runs on
    ///   this object's thread, which it must not keep a reference to the owner from.
    init(commit: @escaping ([Turn]) -> [Result<Void, any Error>]) {
        self.commit = commit
    }

    /// Queues `item`; `completion` gets its outcome, on this object's thread, or on the
    /// caller's before this returns when the turn is refused (after `stop`, or when the thread
    /// cannot start).
    func submit(_ item: Turn, completion: @escaping Completion) {
        mutex.lock()
        guard !stopping else {
            mutex.unlock()
            completion(.failure(StoreError.unavailable("the store is closed")))
            return
        }
        queue.append((item, completion))
        if !started { started = startThread() }
        let running = started
        let refused = running ? [] : queue
        if !running { queue.removeAll() }
        mutex.unlock()
        if running {
            posted.signal()
        } else {
            for waiting in refused { waiting.completion(.failure(StoreError.unavailable("cannot start the commit thread"))) }
        }
    }

    /// Ends the thread once every queued item is settled.
    func stop() {
        mutex.lock()
        stopping = true
        mutex.unlock()
        posted.signal()
    }

    /// The thread holds this object until the queue is empty after `stop`.
    private func startThread() -> Bool {
        (try? DetachedThread.start(name: "askd-commit") { self.run() }) != nil
    }

    private func run() {
        while true {
            mutex.lock()
            while queue.isEmpty && !stopping { posted.wait(mutex) }
            let batch = Array(queue.prefix(Self.batchLimit))
            queue.removeFirst(batch.count)
            let done = batch.isEmpty && stopping
            mutex.unlock()
            if done { return }
            let results = commit(batch.map(\.item))
            precondition(results.count == batch.count, "a commit must settle every item")
            for (waiting, result) in zip(batch, results) { waiting.completion(result) }
        }
    }
}
