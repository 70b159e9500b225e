#if canImport(Glibc)
import Glibc
#endif

/// The figures of the standard `process_*` metrics, read from /proc (no package here exports
/// them): memory, CPU time, threads, descriptors and the start time.
struct ProcessStatus: Equatable {
    var residentBytes: Double
    var virtualBytes: Double
    var cpuSeconds: Double
    var threads: Double
    var startTimeSeconds: Double
    var openFDs: Double
    var maxFDs: Double

    /// The calling process's figures now; nil if /proc cannot be read.
    static func current() -> ProcessStatus? {
        guard let stat = read("/proc/self/stat"), let boot = read("/proc/stat").flatMap(bootTime) else { return nil }
        var limit = rlimit()
        let maxFDs = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur != rlim_t.max ? Double(limit.rlim_cur) : 0
        return parse(
            stat: stat, bootTime: boot, ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))), pageSize: Double(sysconf(Int32(_SC_PAGESIZE))),
            openFDs: Double(countEntries("/proc/self/fd")), maxFDs: maxFDs
        )
    }

    /// The figures in `/proc/self/stat`'s line `stat` (see proc(5)): the fields after the
    /// command's closing parenthesis, which may itself hold spaces and parentheses.
    static func parse(stat: String, bootTime: Double, ticksPerSecond: Double, pageSize: Double, openFDs: Double, maxFDs: Double)
        -> ProcessStatus?
    {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        // Field 3 (state) is the first after the parenthesis: field N is at N - 3.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        func field(_ number: Int) -> Double? { fields.count > number - 3 ? Double(fields[number - 3]) : nil }
        guard let utime = field(14), let stime = field(15), let threads = field(20), let start = field(22), let vsize = field(23),
            let rss = field(24), ticksPerSecond > 0
        else { return nil }
        return ProcessStatus(
            residentBytes: rss * pageSize, virtualBytes: vsize, cpuSeconds: (utime + stime) / ticksPerSecond, threads: threads,
            startTimeSeconds: bootTime + start / ticksPerSecond, openFDs: openFDs, maxFDs: maxFDs
        )
    }

    /// The `btime` line of /proc/stat: when the system booted, in seconds since the epoch.
    static func bootTime(_ stat: String) -> Double? {
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingPrefix(while: { $0 == " " }))
        }
        return nil
    }

    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Entries in the folder at `path`, without `.` and `..` (and without the descriptor that
    /// reading the folder opens).
    private static func countEntries(_ path: String) -> Int {
        guard let folder = opendir(path) else { return 0 }
        var count = 0
        while let entry = readdir(folder) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(3)) }
            if name[0] == UInt8(ascii: ".") && (name[1] == 0 || (name[1] == UInt8(ascii: ".") && name[2] == 0)) { continue }
            count += 1
        }
        closedir(folder)
        return max(0, count - 1)
    }
}
