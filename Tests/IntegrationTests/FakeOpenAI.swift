import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The local OpenAI-compatible test server (Tests/Support/fake_openai.py): it records every
/// request and answers as the prompt steers it.
final class FakeOpenAI {
    let port: UInt16
    private let process: ChildProcess
    private let directory: URL
    private let recordPath: String

    init() throws {
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("askd-fake-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        recordPath = directory.appendingPathComponent("requests.jsonl").path
        let portPath = directory.appendingPathComponent("port").path
        let output = openForWriting(portPath)
        defer { close(output) }
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/python3"
        process = try ChildProcess(
            python, [Stack.repository.appendingPathComponent("Tests/Support/fake_openai.py").path, recordPath], stdout: output
        )
        var port: UInt16?
        try waitUntil("the fake upstream listens") {
            port = (try? String(contentsOfFile: portPath, encoding: .utf8)).flatMap { UInt16($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            return port != nil
        }
        self.port = port!
    }

    deinit {
        process.signal(SIGKILL)
        _ = process.waitForExit(within: 5)
        try? FileManager.default.removeItem(at: directory)
    }

    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// The file where the server records each request (one JSON line each).
    var requestsPath: String { recordPath }

    /// The file where the server records each stream askd closed (read by `closedStreams()`).
    var closedStreamsPath: String { recordPath + ".events" }

    /// When the server noticed askd closing a stream, by prompt (Unix time).
    func closedStreams() -> [String: Double] {
        guard let text = try? String(contentsOfFile: closedStreamsPath, encoding: .utf8) else { return [:] }
        var closed: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let prompt = object["prompt"] as? String, let at = object["at"] as? Double
            else { continue }
            closed[prompt] = at
        }
        return closed
    }

    /// Every request received so far: the Authorization header and the JSON body.
    func requests() throws -> [(authorization: String?, body: [String: Any])] {
        guard let text = try? String(contentsOfFile: recordPath, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return (object["authorization"] as? String, object["body"] as? [String: Any] ?? [:])
        }
    }
}

extension FakeOpenAI {
    /// The answer the server gives `prompt`, plain or streamed: "upstream heard: <prompt>", or
    /// "w0 w1 ..." for "#drip N MS".
    static func answer(to prompt: String) -> String {
        let words = prompt.split(separator: " ")
        if words.first == "#drip", words.count >= 3, let pieces = Int(words[1]) {
            return (0..<pieces).map { "w\($0) " }.joined()
        }
        return "upstream heard: " + prompt
    }
}
