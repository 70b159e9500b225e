import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn, with a clean signal mask and default signal
/// dispositions (Foundation's `Process` passes on the test runner's blocked signals, and its
/// reaper thread can stall on a child that exec'd another program).
final class ChildProcess {
    let pid: pid_t
    private var status: Int32?

    /// Starts `path`; stdin comes from `stdin` (default /dev/null), stdout and stderr go to `stdout`
    /// and `stderr` (file descriptors, default /dev/null).
    init(_ path: String, _ arguments: [String], environment: [String: String] = [:], stdin: Int32? = nil, stdout: Int32? = nil, stderr: Int32? = nil) throws {
        let null = open("/dev/null", O_RDWR)
        defer { close(null) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin ?? null, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout ?? null, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr ?? null, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw ClientError("cannot start \(path): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            _ = waitForExit(within: 5)
        }
    }

    var isRunning: Bool {
        guard status == nil else { return false }
        var raw: Int32 = 0
        let rc = waitpid(pid, &raw, WNOHANG)
        guard rc == pid else { return rc == 0 }
        // WIFEXITED: the exit status; otherwise 128 + the signal, as shells report it.
        status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        return false
    }

    /// The exit status once the process has ended, or `nil` if it is still running.
    var exitStatus: Int32? { isRunning ? nil : status }

    func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Waits up to `seconds` for the process to end; its exit status, or `nil` if it still runs.
    func waitForExit(within seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning && Date() < deadline { usleep(5_000) }
        return exitStatus
    }
}

/// A file opened for a child's output.
func openForWriting(_ path: String) -> Int32 {
    open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
}
