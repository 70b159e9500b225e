#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Starts a detached POSIX thread with a chosen stack size and name.
public enum WorkerThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    public static func start(name: String, stackSize: Int, _ run: @escaping @Sendable () -> Void) throws {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = max(Int(PTHREAD_STACK_MIN), (stackSize + pageSize - 1) / pageSize * pageSize)
        var rc = pthread_attr_setstacksize(&attributes, size)
        guard rc == 0 else { throw SystemError("pthread_attr_setstacksize", code: rc) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))

        let context = Unmanaged.passRetained(Body(run)).toOpaque()
        var thread = pthread_t()
        rc = pthread_create(&thread, &attributes, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw SystemError("pthread_create", code: rc)
        }
        askd_set_thread_name(thread, String(name.prefix(15)))
    }
}
