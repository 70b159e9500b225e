import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real nginx in front of the real `askd` binary, each in a private temp folder and on a free
/// loopback port, rendered from the same template as `make run` (dev/nginx.conf.in).
final class Stack {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The askd binary under test: `ASKD_BIN`, or the debug build (the only one with test routes).
    static var askdBinary: String {
        ProcessInfo.processInfo.environment["ASKD_BIN"] ?? repository.appendingPathComponent(".build/debug/askd").path
    }

    let directory: URL
    let port: UInt16
    let socketPath: String
    let askdLogPath: String
    /// The SQLite file this stack's askd uses, unless the environment names another store.
    let databasePath: String
    /// `ASKD_DATABASE` of this stack's askd processes.
    let database: String
    private(set) var askd: ChildProcess
    /// How the first askd is started, kept for `restartAskd`.
    private let askdCommand: (path: String, arguments: [String], environment: [String: String])
    /// More askd processes behind the same nginx upstream, standing in for other hosts.
    private(set) var replicas: [(process: ChildProcess, socket: String, log: String)] = []
    private var nginx: ChildProcess?

    var client: HTTPClient { HTTPClient(port: port) }

    /// Starts askd with `arguments` after `serve --socket ...`, then nginx, and waits until
    /// `/healthz` answers through nginx. With `hosts` above 1, as many askd processes share the
    /// store, each on its own socket, all in nginx's `askd` upstream. With a `launcher`, the
    /// first askd runs as `launcher + [askd, serve, ...]` (such as `unshare -m sh -c ...`, which
    /// must end by exec'ing its arguments, so that the process is askd's).
    init(askdArguments: [String] = [], environment: [String: String] = [:], hosts: Int = 1, launcher: [String] = []) throws {
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("askd-it-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        port = try FreePort.find()
        socketPath = directory.appendingPathComponent("askd.sock").path
        askdLogPath = directory.appendingPathComponent("askd.log").path

        databasePath = directory.appendingPathComponent("askd.sqlite").path
        database = environment["ASKD_DATABASE"] ?? databasePath
        let askdEnvironment = ["ASKD_TEST_ROUTES": "1", "ASKD_DATABASE": databasePath].merging(environment) { $1 }
        let serve = [Self.askdBinary, "serve", "--socket", socketPath] + askdArguments
        askdCommand = launcher.isEmpty
            ? (Self.askdBinary, Array(serve.dropFirst()), askdEnvironment)
            : (launcher[0], Array(launcher.dropFirst()) + serve, Self.askdEnvironment.merging(askdEnvironment) { $1 })
        askd = try Self.launch(askdCommand.path, askdCommand.arguments, environment: askdCommand.environment, log: askdLogPath)
        try waitUntil("askd creates its socket") { FileManager.default.fileExists(atPath: socketPath) }
        for host in (2...max(2, hosts)).prefix(max(0, hosts - 1)) {
            let socket = directory.appendingPathComponent("askd-\(host).sock").path
            let log = directory.appendingPathComponent("askd-\(host).log").path
            let process = try Self.launch(Self.askdBinary, ["serve", "--socket", socket] + askdArguments, environment: askdEnvironment, log: log)
            replicas.append((process, socket, log))
            try waitUntil("askd \(host) creates its socket") { FileManager.default.fileExists(atPath: socket) }
        }

        let extra = directory.appendingPathComponent("extra-locations.conf")
        try "        location /_test/ { include \(Self.repository.path)/dev/askd_fastcgi.conf; }\n"
            .write(to: extra, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("nginx.conf")
        let render = try Self.run(
            Self.repository.appendingPathComponent("dev/render-nginx-conf").path,
            [directory.path, String(port), socketPath, extra.path], environment: environment
        )
        try #require(render.status == 0, "rendering the nginx config failed: \(render.stderr)")
        let servers = ([socketPath] + replicas.map(\.socket)).map { "server unix:\($0);" }.joined(separator: "\n        ")
        try render.stdout.replacingOccurrences(of: "server unix:\(socketPath);", with: servers)
            .write(to: config, atomically: true, encoding: .utf8)

        nginx = try Self.launch(
            Self.nginxBinary,
            ["-p", directory.path, "-e", directory.appendingPathComponent("error.log").path, "-c", config.path, "-g", "daemon off;"],
            log: directory.appendingPathComponent("nginx.out").path
        )
        let client = HTTPClient(port: port)
        try waitUntil("nginx and askd answer /healthz") { (try? client.get("/healthz"))?.status == 200 }
    }

    deinit {
        for replica in replicas {
            replica.process.signal(SIGKILL)
            _ = replica.process.waitForExit(within: 5)
        }
        askd.signal(SIGKILL)
        nginx?.signal(SIGQUIT)
        _ = askd.waitForExit(within: 5)
        if nginx?.waitForExit(within: 5) == nil { nginx?.signal(SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Everything askd has logged so far.
    var askdLog: String { (try? String(contentsOfFile: askdLogPath, encoding: .utf8)) ?? "" }

    /// Everything each askd process has logged so far, the first one first.
    var hostLogs: [String] {
        [askdLog] + replicas.map { (try? String(contentsOfFile: $0.log, encoding: .utf8)) ?? "" }
    }

    /// The Unix socket of each askd process, the first one first.
    var hostSockets: [String] { [socketPath] + replicas.map(\.socket) }

    /// Starts the first askd again, as it was started, on the same socket and store, once the
    /// one before has exited (after `signalAskd(SIGKILL)`, say); returns when `/healthz` answers
    /// through nginx. Its output goes on in the same log.
    func restartAskd() throws {
        try #require(askd.waitForExit(within: 10) != nil, "askd \(askd.pid) is still running")
        // The socket a killed askd left behind would pass for the new one's.
        unlink(socketPath)
        askd = try Self.launch(askdCommand.path, askdCommand.arguments, environment: askdCommand.environment, log: askdLogPath)
        try waitUntil("askd creates its socket again", seconds: 30) { FileManager.default.fileExists(atPath: socketPath) }
        let client = client
        try waitUntil("nginx and the new askd answer /healthz", seconds: 30) { (try? client.get("/healthz"))?.status == 200 }
    }

    func signalAskd(_ signal: Int32) {
        askd.signal(signal)
    }

    /// Waits for askd to exit, at most `seconds`; its exit status, or `nil` if it is still running.
    func waitForAskdExit(within seconds: Double) -> Int32? {
        askd.waitForExit(within: seconds)
    }

    // MARK: Processes

    static var nginxBinary: String {
        ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "nginx"
    }

    /// What every askd started by the tests gets unless a test says otherwise: the echo
    /// provider and a SQLite file of this test process.
    static let askdEnvironment = [
        "ASKD_PROVIDER": "echo",
        "ASKD_DATABASE": NSTemporaryDirectory() + "askd-it-\(getpid()).sqlite",
        "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "",
    ]

    private static func environment(for path: String, _ environment: [String: String]) -> [String: String] {
        path == askdBinary ? askdEnvironment.merging(environment) { $1 } : environment
    }

    /// Creates an access token in the SQLite file at `database` and returns it.
    func createToken(name: String, _ flags: [String] = []) throws -> String {
        let result = try Self.run(Self.askdBinary, ["token", "create", "--name", name] + flags, environment: ["ASKD_DATABASE": database])
        try #require(result.status == 0, "token create failed: \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A number from this stack's SQLite file (Python's sqlite3 reads it, not askd).
    func count(_ sql: String) throws -> Int {
        let script = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])"
        let result = try Self.run("/usr/bin/python3", ["-c", script, databasePath, sql])
        return try #require(Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(result.stderr)")
    }

    /// Starts `path` with its stdout and stderr appended to `log`.
    static func launch(_ path: String, _ arguments: [String], environment: [String: String] = [:], log: String? = nil, stdin: Int32? = nil)
        throws -> ChildProcess
    {
        let output = log.map(openForWriting)
        defer { output.map { _ = close($0) } }
        return try ChildProcess(
            path, arguments, environment: Self.environment(for: path, environment), stdin: stdin, stdout: output, stderr: output
        )
    }

    /// Runs `path` to completion (killing it after `timeout` seconds); its exit status and output.
    static func run(_ path: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 10) throws
        -> (status: Int32, stderr: String, stdout: String)
    {
        let base = NSTemporaryDirectory() + "askd-run-\(UUID().uuidString.prefix(8))"
        let outPath = base + ".out"
        let errPath = base + ".err"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        let out = openForWriting(outPath)
        let err = openForWriting(errPath)
        let child = try ChildProcess(path, arguments, environment: Self.environment(for: path, environment), stdout: out, stderr: err)
        close(out)
        close(err)
        var status = child.waitForExit(within: timeout)
        if status == nil {
            child.signal(SIGKILL)
            status = child.waitForExit(within: 5)
        }
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return (status ?? -1, stderr, stdout)
    }
}

/// Polls `condition` every 20 ms for up to `seconds`.
func waitUntil(_ what: String, seconds: Double = 10, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        usleep(20_000)
    }
    throw WaitTimedOut(what: what)
}

struct WaitTimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting until \(what)" }
}

enum FreePort {
    /// A TCP port on 127.0.0.1 that was free a moment ago.
    static func find() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        try #require(bound, "cannot find a free port")
        return UInt16(bigEndian: address.sin_port)
    }
}
