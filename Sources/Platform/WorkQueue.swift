#if canImport(Glibc)
import Glibc
#endif

/// A few threads that run closures in the order they were posted: the place for work that may
/// block briefly (a store's statement) and must not run on a thread that others wait on (an
/// upstream transfer loop, the thread that releases a turn lock).
///
/// Its threads start with the first closure and never end: their number is fixed, whatever
/// the load, and a burst waits in the queue.
public final class WorkQueue: @unchecked Sendable {
    /// The queue shared by the whole process.
    public static let shared = WorkQueue(threads: 4, name: "askd-work")

    private let threadCount: Int
    private let name: String
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let posted = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var items: [@Sendable () -> Void] = []
    private var head = 0
    private var started = false
    private var idle = 0

    public init(threads: Int, name: String) {
        threadCount = max(1, threads)
        self.name = name
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(posted, nil)
    }

    deinit {
        pthread_cond_destroy(posted)
        pthread_mutex_destroy(mutex)
        posted.deallocate()
        mutex.deallocate()
    }

    /// Runs `work` on one of the queue's threads, after what was posted before it.
    public func post(_ work: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(mutex)
        items.append(work)
        let start = !started
        started = true
        let wake = idle > 0
        pthread_mutex_unlock(mutex)
        if start {
            for index in 0..<threadCount { startThread(index) }
        } else if wake {
            pthread_cond_signal(posted)
        }
    }

    private func next() -> @Sendable () -> Void {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while head == items.count {
            idle += 1
            pthread_cond_wait(posted, mutex)
            idle -= 1
        }
        let work = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1_024 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return work
    }

    private func run() {
        while true { next()() }
    }

    private func startThread(_ index: Int) {
        let threadName = "\(name)\(index)"
        // A queue whose thread cannot start still has the others; with none, posts wait.
        try? DetachedThread.start(name: threadName) { [self] in
            var everything = sigset_t()
            sigfillset(&everything)
            pthread_sigmask(SIG_BLOCK, &everything, nil)
            run()
        }
    }
}
