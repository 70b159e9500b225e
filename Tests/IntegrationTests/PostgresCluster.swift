import Foundation
import Testing

/// A throwaway PostgreSQL cluster for the tests of this process (Tests/Support/pg-cluster):
/// started on first use on a free loopback port, stopped and deleted when the process exits.
final class PostgresCluster: @unchecked Sendable {
    static let shared: PostgresCluster = {
        let cluster = PostgresCluster()
        atexit { PostgresCluster.shared.stopIfStarted() }
        return cluster
    }()

    private let lock = NSLock()

    private let script = Stack.repository.appendingPathComponent("Tests/Support/pg-cluster").path
    let directory = "/tmp/askd-it-pg-\(getpid())"
    private var baseURL: String?

    /// The cluster's URL for `database`, after creating that database.
    func createDatabase() throws -> String {
        let base = try start()
        let name = "askd_it_\(UUID().uuidString.prefix(8).lowercased())"
        let created = try Stack.run("/usr/bin/psql", [base, "-v", "ON_ERROR_STOP=1", "-qc", "CREATE DATABASE \(name)"])
        try #require(created.status == 0, "CREATE DATABASE failed: \(created.stderr)")
        return base.replacingOccurrences(of: "/postgres", with: "/\(name)")
    }

    /// The first value of `sql` in `url`'s database.
    func value(_ sql: String, in url: String) throws -> String {
        let result = try Stack.run("/usr/bin/psql", [url, "-v", "ON_ERROR_STOP=1", "-tAc", sql])
        try #require(result.status == 0, "psql failed: \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops the server, keeping its data: the database is gone until `resume`.
    func pause() throws {
        let result = try Stack.run(script, ["pause", directory], timeout: 30)
        try #require(result.status == 0, "pg-cluster pause failed: \(result.stderr)")
    }

    func resume() throws {
        let result = try Stack.run(script, ["resume", directory], timeout: 60)
        try #require(result.status == 0, "pg-cluster resume failed: \(result.stderr)")
    }

    private func start() throws -> String {
        try lock.withLock {
            if let baseURL { return baseURL }
            let result = try Stack.run(script, ["start", directory], timeout: 120)
            try #require(result.status == 0, "pg-cluster start failed: \(result.stderr)")
            let url = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
            try #require(url.hasPrefix("postgresql://"), "pg-cluster printed \(result.stdout)")
            baseURL = url
            return url
        }
    }

    private func stopIfStarted() {
        guard lock.withLock({ baseURL }) != nil else { return }
        _ = try? Stack.run(script, ["stop", directory], timeout: 30)
    }
}
