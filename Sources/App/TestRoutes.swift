#if DEBUG
#if canImport(Glibc)
import Glibc
#endif
import HTTP

/// Routes the integration tests drive: slow answers, endless streams and a failing handler.
///
/// Compiled into debug builds only, and registered only with `ASKD_TEST_ROUTES=1`: a release
/// build cannot serve them.
enum TestRoutes {
    struct Failure: Error {}

    static func register(on router: inout Router) {
        router.get("/_test/slow") { request in
            let milliseconds = min(Int(try request.queryParameter("ms") ?? "") ?? 1000, 60_000)
            usleep(useconds_t(milliseconds * 1000))
            return .json(.ok, Array(#"{"slept_ms":\#(milliseconds)}"#.utf8))
        }
        router.get("/_test/stream") { request in
            let chunks = min(Int(try request.queryParameter("chunks") ?? "") ?? 10, 100_000)
            let interval = min(Int(try request.queryParameter("interval_ms") ?? "") ?? 100, 10_000)
            return Response(status: .ok, headers: ["Content-Type": "text/plain", "X-Accel-Buffering": "no"], body: .stream { writer in
                for index in 0..<chunks {
                    try writer.write("chunk \(index)\n")
                    usleep(useconds_t(interval * 1000))
                }
            })
        }
        router.get("/_test/big") { request in
            let bytes = min(max(Int(try request.queryParameter("bytes") ?? "") ?? 1_000, 16), 64 << 20)
            return .json(.ok, Array(#"{"pad":""#.utf8) + [UInt8](repeating: 0x61, count: bytes - 10) + Array(#""}"#.utf8))
        }
        router.get("/_test/fail") { _ in throw Failure() }
        router.post("/_test/echo") { request in
            .json(.ok, Array(#"{"bytes":\#(request.body.count)}"#.utf8))
        }
    }
}
#endif
