#if canImport(Glibc)
import Glibc
#endif
import CCurl
import Platform

/// One curl handle per thread, with its kept-alive connection, cleaned up when the thread ends
/// or when this goes away, whichever comes first: a worker that retires must not keep its
/// handle and its upstream socket open until the process runs out of descriptors.
final class ThreadCurlHandles: Sendable {
    /// The handles not yet cleaned up, shared with each thread's slot.
    final class Open: Sendable {
        let handles = Locked<Set<UInt>>([])

        /// Cleans `handle` up unless it already was; only one caller ever does.
        func close(_ handle: UInt) {
            guard handles.withLock({ $0.remove(handle) }) != nil else { return }
            curl_easy_cleanup(UnsafeMutableRawPointer(bitPattern: handle))
        }
    }

    /// What a thread's key holds: its handle and where to report it closed.
    private final class Slot {
        let handle: UInt
        let open: Open

        init(handle: UInt, open: Open) {
            self.handle = handle
            self.open = open
        }
    }

    private let key: pthread_key_t
    let open = Open()

    init() {
        var key = pthread_key_t()
        // Runs on a thread that ends holding a handle: the slot was retained for the key.
        pthread_key_create(&key) { pointer in
            guard let pointer else { return }
            let slot = Unmanaged<Slot>.fromOpaque(pointer).takeRetainedValue()
            slot.open.close(slot.handle)
        }
        self.key = key
    }

    deinit {
        // Threads still running keep their slots; those only find their handle closed already.
        pthread_key_delete(key)
        for handle in open.handles.withLock({ $0 }) { open.close(handle) }
    }

    /// The calling thread's handle, made on its first call.
    func handle() throws -> UnsafeMutableRawPointer {
        if let pointer = pthread_getspecific(key),
            let handle = UnsafeMutableRawPointer(bitPattern: Unmanaged<Slot>.fromOpaque(pointer).takeUnretainedValue().handle)
        {
            return handle
        }
        guard let handle = curl_easy_init() else { throw UpstreamError.failed(detail: "curl_easy_init failed") }
        let bits = UInt(bitPattern: handle)
        open.handles.withLock { _ = $0.insert(bits) }
        pthread_setspecific(key, Unmanaged.passRetained(Slot(handle: bits, open: open)).toOpaque())
        return handle
    }
}
