import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// Worker threads that come and go leave no descriptors behind.
    @Suite struct Descriptors {
        /// Each burst of streams starts workers, each with a curl handle and a kept-alive upstream
        /// connection; the workers retire after 0.5 s idle. Ten bursts must not grow the
        /// descriptors askd holds, apart from the database's: the store opens connections on
        /// need, up to its pool's bound, and keeps them.
        @Test func burstsOfStreamsLeaveNoDescriptorsBehind() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-upstream",
                "ASKD_MODEL": "test-model", "ASKD_IDLE_THREAD_SECONDS": "0.5",
            ])
            let token = try stack.createToken(name: "app")
            let port = stack.port
            var counts: [Int] = []
            for burst in 0..<10 {
                let threads = (0..<50).map { index in
                    Thread {
                        let body = ##"{"prompt":"#drip 3 100 \##(burst)-\##(index)","stream":true}"##
                        _ = try? EventStreamClient(port: port, token: token, body: body).readAll()
                    }
                }
                for thread in threads { thread.start() }
                let deadline = Date().addingTimeInterval(30)
                while !threads.allSatisfy(\.isFinished), Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
                // The workers the burst started retire after 0.5 s without work.
                Thread.sleep(forTimeInterval: 1.5)
                counts.append(try Self.openDescriptors(of: stack.askd.pid))
            }
            print("askd's open descriptors (the database's aside) after each of 10 bursts of 50 streams: \(counts)")
            #expect(counts[9] - counts[0] <= 5, "\(counts)")
        }

        private static func openDescriptors(of pid: pid_t) throws -> Int {
            try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").filter { fd in
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) ?? ""
                return !target.contains(".sqlite")
            }.count
        }
    }
}
