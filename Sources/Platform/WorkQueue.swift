#if canImport(Glibc)
import Glibc
#endif
import CLinux

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
        PlatformThread.detach(name: threadName) { [self] in
            var everything = sigset_t()
            sigfillset(&everything)
            pthread_sigmask(SIG_BLOCK, &everything, nil)
            run()
        }
    }
}

/// Starts detached threads that hold no reference to their starter.
public enum PlatformThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Starts `run` on a new detached thread named `name` (at most 15 bytes are kept).
    /// - Returns: whether the thread started.
    @discardableResult
    public static func detach(name: String, stackSize: Int? = nil, _ run: @escaping @Sendable () -> Void) -> Bool {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if let stackSize {
            let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
            pthread_attr_setstacksize(&attributes, max(Int(PTHREAD_STACK_MIN), (stackSize + pageSize - 1) / pageSize * pageSize))
        }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(Body(run)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            return false
        }
        askd_set_thread_name(thread, String(decoding: name.utf8.prefix(15), as: UTF8.self))
        return true
    }
}
