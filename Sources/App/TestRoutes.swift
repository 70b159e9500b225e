#if DEBUG
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import HTTP

/// Routes the integration tests drive: slow answers, endless streams and a failing handler.
///
/// Compiled into debug builds only, and registered only with `ASKD_TEST_ROUTES=1`: a release
/// build cannot serve them.
enum TestRoutes {
    struct Failure: Error {}

    static func register(on router: inout Router) {
        router.get("/_test/slow") { request in
            let milliseconds = try number("ms", of: request, default: 1000, within: 0...60_000)
            usleep(useconds_t(milliseconds * 1000))
            return .json(.ok, Array(#"{"slept_ms":\#(milliseconds)}"#.utf8))
        }
        router.get("/_test/stream") { request in
            let chunks = try number("chunks", of: request, default: 10, within: 0...100_000)
            let interval = try number("interval_ms", of: request, default: 100, within: 0...10_000)
            return Response(body: .later { channel in
                channel.begin(status: .ok, headers: ["Content-Type": "text/plain", "X-Accel-Buffering": "no"])
                TestStream(channel: channel, chunks: chunks, intervalMilliseconds: interval).write(from: 0)
            })
        }
        router.get("/_test/big") { request in
            let bytes = try number("bytes", of: request, default: 1_000, within: 16...(64 << 20))
            return .json(.ok, Array(#"{"pad":""#.utf8) + [UInt8](repeating: 0x61, count: bytes - 10) + Array(#""}"#.utf8))
        }
        router.get("/_test/fail") { _ in throw Failure() }
        router.post("/_test/echo") { request in
            .json(.ok, Array(#"{"bytes":\#(request.body.count)}"#.utf8))
        }
    }

    /// `/_test/stream`'s chunks, written without holding a thread: one every interval on a timer
    /// queue, or all at once when the interval is 0 (what the connection cannot take waits in
    /// the channel, up to its bound).
    struct TestStream: Sendable {
        let channel: any ResponseChannel
        let chunks: Int
        let intervalMilliseconds: Int
        private static let clock = DispatchQueue(label: "askd-test-stream")

        func write(from start: Int) {
            var index = start
            while index < chunks {
                guard channel.write(Array("chunk \(index)\n".utf8)) else { break }
                index += 1
                if intervalMilliseconds > 0 && index < chunks {
                    let next = index
                    Self.clock.asyncAfter(deadline: .now() + .milliseconds(intervalMilliseconds)) { write(from: next) }
                    return
                }
            }
            channel.end()
        }
    }

    /// Query parameter `name` as a whole number, moved into `range`; `fallback` when it is absent
    /// or not a number. Only capped above, `ms=-1` trapped in `useconds_t(-1000)` and
    /// `chunks=-1` in `0..<-1`, and either stopped askd.
    static func number(_ name: String, of request: Request, default fallback: Int, within range: ClosedRange<Int>) throws -> Int {
        let value = Int(try request.queryParameter(name) ?? "") ?? fallback
        return min(max(value, range.lowerBound), range.upperBound)
    }
}
#endif
