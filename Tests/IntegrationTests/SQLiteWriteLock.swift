import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Another process (Python's sqlite3) holding the write lock of a SQLite file, as a backup or a
/// stuck writer would, until `release()` or `seconds` pass.
final class SQLiteWriteLock {
    private let holder: ChildProcess
    /// The write end of the holder's stdin: closing it releases the lock.
    private var stdinWriter: Int32
    private static let script = """
        import select, sqlite3, sys
        db = sqlite3.connect(sys.argv[1], timeout=5, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        print("locked", flush=True)
        released, _, _ = select.select([sys.stdin], [], [], float(sys.argv[2]))
        db.execute("ROLLBACK")
        sys.exit(0 if released else 3)
        """

    /// Returns once the lock is held; the holder's output goes to `log`.
    init(databasePath: String, log: String, seconds: Double = 20) throws {
        var ends: [Int32] = [-1, -1]
        let rc = ends.withUnsafeMutableBufferPointer { pipe($0.baseAddress) }
        try #require(rc == 0, "pipe: \(String(cString: strerror(errno)))")
        // No other child may inherit the write end, or the holder would never see end-of-stdin.
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        defer { close(ends[0]) }
        stdinWriter = ends[1]
        do {
            holder = try Stack.launch("/usr/bin/python3", ["-c", Self.script, databasePath, String(seconds)], log: log, stdin: ends[0])
        } catch {
            close(ends[1])
            throw error
        }
        try waitUntil("python3 holds the write lock of \(databasePath)") {
            if let status = holder.exitStatus {
                throw ClientError("the lock holder exited with \(status): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            return ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("locked")
        }
    }

    deinit {
        if stdinWriter >= 0 { close(stdinWriter) }
    }

    /// Rolls back and ends the holder; its exit status (0 when it was still holding the lock).
    @discardableResult
    func release() -> Int32? {
        if stdinWriter >= 0 {
            close(stdinWriter)
            stdinWriter = -1
        }
        return holder.waitForExit(within: 5)
    }
}
