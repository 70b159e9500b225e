import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real Prometheus server (Debian's `prometheus` package) on a free loopback port, with its
/// data in a temp folder, scraping the targets of `scrapeConfigs` every second; and promtool.
final class PrometheusServer {
    static let binary = "/usr/bin/prometheus"
    static let promtool = "/usr/bin/promtool"

    let port: UInt16
    private let directory: URL
    private let process: ChildProcess

    /// - Parameter scrapeConfigs: the `scrape_configs:` entries, as YAML indented by two spaces.
    init(scrapeConfigs: String) throws {
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("askd-prom-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = try FreePort.find()
        let config = directory.appendingPathComponent("prometheus.yml")
        try "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\(scrapeConfigs)"
            .write(to: config, atomically: true, encoding: .utf8)
        process = try Stack.launch(Self.binary, [
            "--config.file=\(config.path)", "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
            "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
        ], log: directory.appendingPathComponent("prometheus.log").path)
        let client = HTTPClient(port: port)
        try waitUntil("Prometheus is ready", seconds: 30) { (try? client.get("/-/ready"))?.status == 200 }
    }

    deinit {
        process.signal(SIGTERM)
        if process.waitForExit(within: 10) == nil { process.signal(SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }

    var log: String { (try? String(contentsOfFile: directory.appendingPathComponent("prometheus.log").path, encoding: .utf8)) ?? "" }

    /// The instant vector `expression` evaluates to now: each series' labels and value.
    func query(_ expression: String) throws -> [(labels: [String: String], value: Double)] {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = try #require(expression.addingPercentEncoding(withAllowedCharacters: allowed))
        let response = try HTTPClient(port: port).get("/api/v1/query?query=\(encoded)")
        let json = try response.json()
        try #require(json["status"] as? String == "success", "query \(expression): \(response.text)")
        let data = try #require(json["data"] as? [String: Any])
        let result = try #require(data["result"] as? [[String: Any]])
        return try result.map { series in
            let labels = series["metric"] as? [String: String] ?? [:]
            let pair = try #require(series["value"] as? [Any])
            let text = try #require(pair.last as? String)
            let value = try #require(Double(text))
            return (labels, value)
        }
    }

    /// The single value `expression` evaluates to, once Prometheus has one, waiting up to 20 s.
    func value(_ expression: String, until accepted: (Double) -> Bool = { _ in true }) throws -> Double {
        var last: Double?
        do {
            try waitUntil("Prometheus has \(expression)", seconds: 20) {
                last = try query(expression).first?.value
                return last.map(accepted) ?? false
            }
        } catch {
            Issue.record("\(expression): last value \(String(describing: last)); Prometheus log: \(log)")
            throw error
        }
        return last!
    }

    /// Runs promtool with `arguments`, `input` on its standard input.
    static func promtool(_ arguments: [String], input: String? = nil) throws -> (status: Int32, stderr: String, stdout: String) {
        guard let input else { return try Stack.run(promtool, arguments, timeout: 30) }
        let path = NSTemporaryDirectory() + "askd-promtool-\(UUID().uuidString.prefix(8))"
        try input.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        let base = NSTemporaryDirectory() + "askd-promtool-out-\(UUID().uuidString.prefix(8))"
        let out = openForWriting(base + ".out")
        let err = openForWriting(base + ".err")
        let child = try ChildProcess(promtool, arguments, stdin: fd, stdout: out, stderr: err)
        close(out)
        close(err)
        let status = child.waitForExit(within: 30) ?? -1
        defer {
            unlink(base + ".out")
            unlink(base + ".err")
        }
        return (
            status, (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "",
            (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        )
    }
}
