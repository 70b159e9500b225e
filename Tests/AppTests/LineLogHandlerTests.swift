@testable import App
import Dispatch
import Foundation
import Glibc
import HTTP
import Logging
import Testing

struct LineLogHandlerTests {
    /// Logs through a handler writing to a pipe and returns what it wrote.
    private func capture(_ body: (Logger) -> Void) throws -> String {
        let fds = try makePipe()
        defer { close(fds[0]) }
        let sink = LogSink(fd: fds[1])
        var logger = Logger(label: "askd") { LineLogHandler(label: $0, sink: sink) }
        logger.logLevel = .debug
        body(logger)
        // Info lines go out from the sink's drain thread: all of them before the pipe closes.
        sink.flush()
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

    /// A message quoting an upstream's words stays one line too.
    @Test func aMessageCannotForgeALine() throws {
        let output = try capture { logger in
            logger.error("the upstream failed: bad\n2026-01-01T00:00:00.000Z critical askd: forged\r\u{0}")
        }
        #expect(output.split(separator: "\n").count == 1)
        #expect(output.contains(#"bad\n2026-01-01T00:00:00.000Z critical askd: forged\r\u0000"#))
    }
}

struct LogSinkTests {
    /// Lines from many threads at once all arrive, each whole and on a line of its own.
    @Test func concurrentLinesArriveWholeAndOnce() throws {
        let path = NSTemporaryDirectory() + "askd-logsink-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o600)
        try #require(fd >= 0)
        defer { unlink(path) }
        let sink = LogSink(fd: fd)
        let threads = 8
        let linesPerThread = 2_000
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<linesPerThread {
                let line = "thread=\(thread) line=\(index) " + String(repeating: "x", count: index % 200) + "\n"
                sink.write(Array(line.utf8), waitUntilWritten: index % 500 == 0)
            }
        }
        sink.flush()
        close(fd)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == threads * linesPerThread)
        var seen = Set<String>()
        for line in lines {
            let fields = line.split(separator: " ")
            try #require(fields.count >= 2, "a torn line: \(line)")
            let index = try #require(Int(fields[1].dropFirst("line=".count)), "a torn line: \(line)")
            #expect(fields.count == (index % 200 == 0 ? 2 : 3), "a torn line: \(line)")
            seen.insert("\(fields[0]) \(fields[1])")
        }
        #expect(seen.count == threads * linesPerThread)
    }

    /// An info line costs its thread no write: with the pipe full and nobody reading, the call
    /// still returns at once, and the drain thread writes the line once the reader comes.
    @Test func anInfoLineIsLeftToTheDrainThread() throws {
        let fds = try makePipe()
        defer { close(fds[0]) }
        // Fill the pipe, so that any write(2) to it would block.
        let flags = fcntl(fds[1], F_GETFL)
        _ = fcntl(fds[1], F_SETFL, flags | O_NONBLOCK)
        let filler = [UInt8](repeating: UInt8(ascii: "f"), count: 4096)
        var filled = 0
        while case let count = Glibc.write(fds[1], filler, filler.count), count > 0 { filled += count }
        _ = fcntl(fds[1], F_SETFL, flags)
        let sink = LogSink(fd: fds[1])
        let returned = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            sink.write(Array("info\n".utf8))
            returned.signal()
        }
        #expect(returned.wait(timeout: .now() + 30) == .success, "an info line waited for a write")
        let received = readPipe(fds[0], bytes: filled + 5)
        #expect(received.count == filled + 5)
        #expect(String(decoding: received.suffix(5), as: UTF8.self) == "info\n")
        close(fds[1])
    }

    /// While the drain thread is stuck in its write (a full pipe), another line is queued:
    /// without waiting, the call returns at once; with `waitUntilWritten`, only once the line
    /// is out.
    @Test func queuedLinesWaitOnlyWhenAsked() throws {
        let fds = try makePipe()
        defer { close(fds[0]) }
        let sink = LogSink(fd: fds[1])
        let (big, first) = try startStuckWrite(on: sink, of: "a")
        let queued = DispatchSemaphore(value: 0)
        let waited = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            sink.write(Array("queued\n".utf8))
            queued.signal()
        }
        #expect(queued.wait(timeout: .now() + 30) == .success, "a queued line does not wait for the write")
        Thread.detachNewThread {
            sink.write(Array("waited\n".utf8), waitUntilWritten: true)
            waited.signal()
        }
        #expect(waited.wait(timeout: .now() + 0.3) == .timedOut, "a line that waits is not out before the stuck write")

        let received = readPipe(fds[0], bytes: big.count + 14)
        #expect(first.wait(timeout: .now() + 30) == .success)
        #expect(waited.wait(timeout: .now() + 30) == .success)
        #expect(received.count == big.count + 14)
        let tail = String(decoding: received.suffix(14), as: UTF8.self)
        #expect(tail == "queued\nwaited\n" || tail == "waited\nqueued\n")
        close(fds[1])
    }

    /// `flush` returns once the lines queued before it are written.
    @Test func flushWaitsForQueuedLines() throws {
        let fds = try makePipe()
        defer { close(fds[0]) }
        let sink = LogSink(fd: fds[1])
        let (big, _) = try startStuckWrite(on: sink, of: "b")
        let flushed = DispatchSemaphore(value: 0)
        sink.write(Array("last\n".utf8))
        Thread.detachNewThread {
            sink.flush()
            flushed.signal()
        }
        #expect(flushed.wait(timeout: .now() + 0.3) == .timedOut, "flush returned before the lines were out")
        let received = readPipe(fds[0], bytes: big.count + 5)
        #expect(flushed.wait(timeout: .now() + 30) == .success)
        #expect(received.count == big.count + 5)
        close(fds[1])
    }

    /// Without a drain thread (none could start), a caller writes its own info line, before
    /// `write` returns.
    @Test func withoutADrainThreadCallersWriteTheirOwnLines() throws {
        let fds = try makePipe()
        defer { close(fds[0]) }
        let sink = LogSink(fd: fds[1], drainThread: false)
        sink.write(Array("first\n".utf8))
        sink.write(Array("second\n".utf8))
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(fds[0], &buffer, buffer.count)
        #expect(count == 13, "the lines were not in the pipe when write returned")
        #expect(String(decoding: buffer[..<max(count, 0)], as: UTF8.self) == "first\nsecond\n")
        close(fds[1])
    }

    /// A notice being written (its thread stuck on a full pipe) and an info line queued behind
    /// it: the notice's thread writes its own batch only, and hands the info line over to the
    /// drain thread, which writes it once the pipe has room.
    @Test func linesQueuedBehindAWaitingWriterAreHandedOver() throws {
        let fds = try makePipe()
        defer { close(fds[0]) }
        let sink = LogSink(fd: fds[1])
        let (notice, written) = try startStuckWrite(on: sink, of: "n", waitUntilWritten: true)
        sink.write(Array("behind\n".utf8))
        #expect(written.wait(timeout: .now() + 0.3) == .timedOut, "the notice cannot be out: nobody reads the pipe")
        let received = readPipe(fds[0], bytes: notice.count + 7)
        #expect(written.wait(timeout: .now() + 30) == .success)
        #expect(received.count == notice.count + 7)
        #expect(String(decoding: received.suffix(7), as: UTF8.self) == "behind\n")
        #expect(sink.flush(waitingAtMost: 5))
        close(fds[1])
    }

    /// A bounded flush gives up on a stalled reader, and reports that it did.
    @Test func aBoundedFlushGivesUpOnAStalledReader() throws {
        let fds = try makePipe()
        defer { close(fds[0]) }
        let sink = LogSink(fd: fds[1])
        let big = [UInt8](repeating: UInt8(ascii: "c"), count: 200_000) + [UInt8(ascii: "\n")]
        sink.write(big)
        let started = DispatchTime.now().uptimeNanoseconds
        #expect(!sink.flush(waitingAtMost: 0.2), "the lines cannot be out: nobody reads the pipe")
        let waited = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        #expect(waited >= 0.19 && waited < 3, "waited \(waited) s")
        let received = readPipe(fds[0], bytes: big.count)
        #expect(received.count == big.count)
        #expect(sink.flush(waitingAtMost: 5))
        close(fds[1])
    }

    /// Writes a line of more than a pipe holds to `sink` on a thread of its own (Dispatch's pool
    /// may be busy with other tests) and returns once that write has started: it stays stuck
    /// until the test reads the pipe. The semaphore is signalled when `write` returns.
    private func startStuckWrite(
        on sink: LogSink, of byte: Unicode.Scalar, waitUntilWritten: Bool = false
    ) throws -> (line: [UInt8], returned: DispatchSemaphore) {
        let line = [UInt8](repeating: UInt8(ascii: byte), count: 200_000) + [UInt8(ascii: "\n")]
        let returned = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            sink.write(line, waitUntilWritten: waitUntilWritten)
            returned.signal()
        }
        try waitFor("the first write to start") { sink.isWriting }
        return (line, returned)
    }

    /// Reads from the pipe until `bytes` have come, its writers are gone, or 10 s have passed.
    private func readPipe(_ fd: Int32, bytes: Int) -> [UInt8] {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = MonotonicDeadline(seconds: 10)
        while received.count < bytes && !deadline.passed {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 100) > 0 else { continue }
            let count = read(fd, &buffer, buffer.count)
            guard count > 0 else { break }
            received += buffer[..<count]
        }
        return received
    }

    private func waitFor(_ what: String, _ condition: () -> Bool) throws {
        let deadline = MonotonicDeadline(seconds: 5)
        while !condition() {
            try #require(!deadline.passed, "timed out waiting for \(what)")
            usleep(1_000)
        }
    }
}

private struct MonotonicDeadline {
    let end: UInt64

    init(seconds: Double) {
        end = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
    }

    var passed: Bool { DispatchTime.now().uptimeNanoseconds >= end }
}

/// A pipe: the read end, then the write end.
private func makePipe() throws -> [Int32] {
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    return fds
}
