#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A POSIX semaphore of one thread's own, posted by another to wake it: unlike a condition
/// variable, the woken thread takes no shared mutex on its way out.
public final class Semaphore: @unchecked Sendable {
    private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    public init() {
        sem_init(semaphore, 0, 0)
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    /// Sleeps until posted.
    public func wait() {
        while sem_wait(semaphore) != 0 {}  // EINTR only
    }

    /// Sleeps until posted or until `deadline`.
    /// - Returns: false when the deadline passed (or the wait failed) first.
    public func wait(until deadline: Deadline) -> Bool {
        var time = deadline.timespec
        while askd_sem_wait_until(semaphore, &time) != 0 {
            if errno != EINTR { return false }
        }
        return true
    }

    public func post() {
        sem_post(semaphore)
    }
}
