import Foundation

/// A throwaway PostgreSQL cluster, made and driven by `Tests/Support/pg-cluster`.
struct PostgresTestCluster: Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let directory: String
    /// `postgresql://askd@127.0.0.1:PORT/postgres`
    let url: String

    /// The cluster the tests of this process share: started on first use, stopped at exit.
    static let shared: Result<PostgresTestCluster, any Error> = Result {
        let cluster = try start()
        atexit {
            guard case .success(let cluster) = PostgresTestCluster.shared else { return }
            cluster.stop()
        }
        return cluster
    }

    private static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Support/pg-cluster").path

    /// Starts a cluster of its own under /tmp; the caller stops it.
    static func start() throws -> PostgresTestCluster {
        let directory = "/tmp/askd-pg-\(UUID().uuidString.prefix(8).lowercased())"
        return PostgresTestCluster(directory: directory, url: try run("start", directory))
    }

    /// A new, empty database; its URL.
    func createDatabase() throws -> String {
        try Self.run("createdb", directory)
    }

    /// Stops the server, keeping its data.
    func pause() throws {
        _ = try Self.run("pause", directory)
    }

    /// Starts the server again on the same port.
    func resume() throws {
        _ = try Self.run("resume", directory)
    }

    /// Stops the server and removes its files.
    func stop() {
        _ = try? Self.run("stop", directory)
    }

    /// Runs `sql` with psql on the database at `url`; what it printed, unaligned, or the running
    /// psql to `pclose` when `background`.
    static func psql(_ url: String, _ sql: String) throws -> String {
        try output(of: "psql -X -q -t -A -v ON_ERROR_STOP=1 -d '\(url)' -c '\(sql.replacing("'", with: "'\\''"))'")
    }

    /// Starts psql running `sql` on the database at `url`; `pclose` waits for it.
    static func psqlInBackground(_ url: String, _ sql: String) -> UnsafeMutablePointer<FILE>? {
        popen("psql -X -q -v ON_ERROR_STOP=1 -d '\(url)' -c '\(sql.replacing("'", with: "'\\''"))' >/dev/null 2>&1", "r")
    }

    /// Runs a shell command; the last line it printed.
    static func shell(_ command: String) throws -> String {
        try output(of: command)
    }

    /// Runs the script through `popen`; returns the last line it printed (progress and errors
    /// come before it). Foundation's `Process.waitUntilExit` can hang inside a test on Linux.
    private static func run(_ command: String, _ directory: String) throws -> String {
        try output(of: "'\(script)' \(command) '\(directory)'")
    }

    private static func output(of shellCommand: String) throws -> String {
        guard let pipe = popen("\(shellCommand) 2>&1", "r") else {
            throw Failure(description: "\(shellCommand): popen failed: \(String(cString: strerror(errno)))")
        }
        var output = ""
        var buffer = [CChar](repeating: 0, count: 4_096)
        while fgets(&buffer, Int32(buffer.count), pipe) != nil { output += String(cString: buffer) }
        let status = pclose(pipe)
        guard status == 0 else {
            throw Failure(description: "\(shellCommand) failed (status \(status)): \(output)")
        }
        return output.split(separator: "\n").last.map(String.init) ?? ""
    }
}
