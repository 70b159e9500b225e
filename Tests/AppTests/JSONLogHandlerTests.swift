@testable import App
import Foundation
import Glibc
import HTTP
import Logging
import Testing

struct JSONLogHandlerTests {
    /// Logs through a JSON handler writing to a pipe; each line it wrote, parsed.
    private func capture(_ body: (Logger) -> Void) throws -> [[String: Any]] {
        let fds = try makePipe()
        defer { close(fds[0]) }
        let sink = LogSink(fd: fds[1])
        var logger = Logger(label: "askd") { JSONLogHandler(label: $0, sink: sink) }
        logger.logLevel = .debug
        body(logger)
        sink.flush()
        close(fds[1])
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let count = read(fds[0], &buffer, buffer.count), count > 0 { bytes += buffer[..<count] }
        return try String(decoding: bytes, as: UTF8.self).split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
    }

    @Test func oneObjectPerLineWithTheFieldsAsMembers() throws {
        let entries = try capture { logger in
            logger.info("request", metadata: ["request_id": "abc", "status": .stringConvertible(200), "duration_ms": .stringConvertible(1.25)])
            logger.debug("second\nline \"quoted\"", metadata: ["message": "a field named like a member", "path": "/x?y=\"z\""])
            logger.trace("not shown")
        }
        try #require(entries.count == 2)
        let first = entries[0]
        #expect(first["level"] as? String == "info")
        #expect(first["logger"] as? String == "askd")
        #expect(first["message"] as? String == "request")
        #expect(first["request_id"] as? String == "abc")
        #expect(first["status"] as? Int == 200)
        #expect(first["duration_ms"] as? Double == 1.25)
        let time = try #require(first["time"] as? String)
        #expect(time.hasSuffix("Z") && time.count == 24, "RFC 3339 with milliseconds in UTC: \(time)")
        let second = entries[1]
        #expect(second["message"] as? String == "second\nline \"quoted\"")
        #expect(second["field_message"] as? String == "a field named like a member")
        #expect(second["path"] as? String == "/x?y=\"z\"")
    }

    @Test func numbersOnlyFromNumbers() throws {
        let entries = try capture { logger in
            logger.info("x", metadata: ["id": "123", "count": .stringConvertible(7), "name": .stringConvertible("8")])
        }
        let entry = try #require(entries.first)
        #expect(entry["id"] as? String == "123")
        #expect(entry["count"] as? Int == 7)
        #expect(entry["name"] as? String == "8")
    }

    @Test func theAccessLogCarriesItsFiguresAsFields() throws {
        let entries = try capture { logger in
            let application = Application(router: Router(), logger: logger, structuredAccessLog: true)
            var request = Request(method: "GET", path: "/healthz")
            request.id = "r-1"
            application.logCompletion(of: request, status: 200, seconds: 0.0012345, clientGone: true)
        }
        let entry = try #require(entries.first)
        #expect(entry["message"] as? String == "request")
        #expect(entry["method"] as? String == "GET")
        #expect(entry["path"] as? String == "/healthz")
        #expect(entry["status"] as? Int == 200)
        #expect(entry["duration_ms"] as? Double == 1.235 || entry["duration_ms"] as? Double == 1.234)
        #expect(entry["request_id"] as? String == "r-1")
        #expect(entry["client"] as? String == "gone")
    }
}

private func makePipe() throws -> [Int32] {
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    return fds
}
