#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Starts detached POSIX threads: askd's one place that calls `pthread_create`.
public enum DetachedThread {
    private final class Body {
        let name: String
        let run: () -> Void

        init(name: String, run: @escaping () -> Void) {
            self.name = String(name.prefix(15))
            self.run = run
        }
    }

    /// Starts a thread that runs `run` and ends with it.
    /// - Parameters:
    ///   - name: what `top -H` and perf show (15 bytes at most are kept); without one, a thread
    ///     inherits its creator's name and its work is counted as the creator's.
    ///   - stackSize: the stack's size, rounded up to whole pages; nil for the system's default.
    /// - Throws: `SystemError` when the thread cannot start; `run` then never runs.
    public static func start(name: String, stackSize: Int? = nil, _ run: @escaping @Sendable () -> Void) throws(SystemError) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if let stackSize {
            let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
            let size = max(Int(PTHREAD_STACK_MIN), (stackSize + pageSize - 1) / pageSize * pageSize)
            let rc = pthread_attr_setstacksize(&attributes, size)
            guard rc == 0 else { throw SystemError("pthread_attr_setstacksize", code: rc) }
        }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))

        let context = Unmanaged.passRetained(Body(name: name, run: run)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { context in
            let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
            // Named by itself: a detached thread may be gone before its creator could name it.
            askd_set_thread_name(pthread_self(), body.name)
            body.run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw SystemError("pthread_create", code: rc)
        }
    }
}
