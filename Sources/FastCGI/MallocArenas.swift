#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Caps glibc malloc's arenas at two. Call it in `main`, before any other thread starts.
///
/// glibc lets threads spread over up to eight arenas per core, and each arena keeps what its
/// threads freed for their later use, so memory held after a burst grows with the arenas. Small
/// allocations are served from each thread's own cache (tcache) without a lock either way.
/// An operator's MALLOC_ARENA_MAX, or glibc.malloc.arena_max in GLIBC_TUNABLES, wins.
public enum MallocArenas {
    public static let limit: Int32 = 2

    public static func apply(environment: [String: String]) {
        if environment["MALLOC_ARENA_MAX"] != nil { return }
        if environment["GLIBC_TUNABLES"]?.contains("glibc.malloc.arena_max") == true { return }
        mallopt(M_ARENA_MAX, limit)
    }
}
