@testable import App
import Glibc
import HTTP
import Logging
import Testing

struct LineLogHandlerTests {
    /// Logs through a handler writing to a pipe and returns what it wrote.
    private func capture(_ body: (Logger) -> Void) throws -> String {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        var logger = Logger(label: "askd") { LineLogHandler(label: $0, fd: fds[1]) }
        logger.logLevel = .debug
        body(logger)
        close(fds[1])
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let count = read(fds[0], &buffer, buffer.count), count > 0 { bytes += buffer[..<count] }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func oneLinePerEntryWithSortedQuotedMetadata() throws {
        let output = try capture { logger in
            logger.info("request method=GET", metadata: ["zeta": "1", "alpha": "has space", "eq": "a=b"])
            logger.debug("second")
            logger.trace("not shown")
        }
        let lines = output.split(separator: "\n")
        #expect(lines.count == 2)
        let first = try #require(lines.first)
        #expect(first.hasSuffix(#" info askd: request method=GET alpha="has space" eq="a=b" zeta=1"#))
        #expect(lines[1].hasSuffix(" debug askd: second"))
    }

    @Test func timestampsAreRFC3339InUTC() {
        let stamp = LineLogHandler.timestamp(timespec(tv_sec: 1_795_700_000, tv_nsec: 7_000_000))
        #expect(stamp == "2026-11-26T13:33:20.007Z")
        #expect(LineLogHandler.timestamp(timespec(tv_sec: 0, tv_nsec: 999_999_999)) == "1970-01-01T00:00:00.999Z")
    }

    @Test func controlCharactersCannotForgeALine() throws {
        let output = try capture { logger in
            logger.info("x", metadata: ["path": "/a\nfake 200"])
        }
        #expect(output.split(separator: "\n").count == 1)
        #expect(output.contains(#"path="/a\nfake 200""#))
    }
}
