#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Platform

/// glibc malloc settings for a server with many threads. Call `apply` in `main`, before any
/// other thread starts. An operator's own setting of either (environment variable or
/// GLIBC_TUNABLES) wins.
///
/// - **Two arenas.** glibc lets threads spread over up to eight arenas per core, and each arena
///   keeps what its threads freed for their later use, so memory held after a burst grows with
///   the arenas. Small allocations are served from each thread's own cache (tcache) without a
///   lock either way.
/// - **A fixed 1 MiB trim threshold.** By default glibc gives the free top of a heap back to the
///   kernel once it passes 128 KiB (brk for the main heap, MADV_DONTNEED for the others), and
///   takes it again at the next burst: under load, about one brk or madvise per request, each
///   taking the memory-map lock that every other thread's page faults need, and each page given
///   back is faulted in and zeroed again. 1 MiB keeps a burst's memory (see BENCHMARKS.md).
///   Setting it also stops glibc from raising it (up to 32 MiB) after large frees, and the mmap
///   threshold stays at 128 KiB: the memory an idle askd keeps stays bounded.
public enum MallocTuning {
    public static let arenaLimit: Int32 = 2
    public static let trimThreshold: Int32 = 1 << 20

    public static func apply(environment: [String: String]) {
        let tunables = environment["GLIBC_TUNABLES"] ?? ""
        if environment["MALLOC_ARENA_MAX"] == nil && !tunables.contains("glibc.malloc.arena_max") {
            mallopt(M_ARENA_MAX, arenaLimit)
        }
        if environment["MALLOC_TRIM_THRESHOLD_"] == nil && !tunables.contains("glibc.malloc.trim_threshold") {
            mallopt(M_TRIM_THRESHOLD, trimThreshold)
        }
    }
}

/// Gives the memory malloc holds free back to the kernel once askd has been idle for a second
/// (no new request, and none in flight: `malloc_trim` holds each arena's lock while it works, and
/// a stream or an answer written later still running would wait on it): once per quiet spell, from the
/// main thread's tick. Under load, the 1 MiB trim threshold
/// (`MallocTuning`) keeps freed memory for the next request; after a burst, the arenas' free
/// space, in the middle of the heaps too, goes back with one `malloc_trim(0)`.
struct IdleMemory {
    static let quietSeconds = 1.0

    private var requestsSeen = 0
    private var quietSince: Double
    private var trimmed = false
    private let giveBack: () -> Void

    init(since now: Double, giveBack: @escaping () -> Void = { malloc_trim(0) }) {
        quietSince = now
        self.giveBack = giveBack
    }

    mutating func tick(requestsStarted: Int, inFlight: Int, now: Double = MonotonicClock.now()) {
        if requestsStarted != requestsSeen || inFlight > 0 {
            requestsSeen = requestsStarted
            quietSince = now
            trimmed = false
        } else if !trimmed && now - quietSince >= Self.quietSeconds {
            giveBack()
            trimmed = true
        }
    }
}
