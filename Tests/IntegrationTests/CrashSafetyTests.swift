import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// askd killed with SIGKILL under a load of `/ask` through nginx, over and over, on SQLite
    /// and on PostgreSQL (see `KillRounds` for what must hold after each kill); and SQLite's disk
    /// filling up under load.
    @Suite struct CrashSafety {
        /// Short, so that a conversation a killed askd held is free again soon after the restart.
        static let leaseSeconds = 2.0

        /// Whether this process may mount a tmpfs in a mount namespace of its own.
        static let privateMountsWork: Bool = {
            guard getuid() == 0 else { return false }
            let probe = NSTemporaryDirectory() + "askd-mount-probe-\(getpid())"
            try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: probe) }
            let mounted = try? Stack.run("/usr/bin/unshare", ["--mount", "/bin/mount", "-t", "tmpfs", "-o", "size=64k", "probe", probe])
            return mounted?.status == 0
        }()

        private static func environment(_ upstream: FakeOpenAI, _ extra: [String: String] = [:]) -> [String: String] {
            [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-upstream",
                "ASKD_MODEL": "test-model", "ASKD_UPSTREAM_TIMEOUT_SECONDS": "20", "ASKD_TURN_LEASE_SECONDS": "\(leaseSeconds)",
            ].merging(extra) { $1 }
        }

        @Test func sqliteKeepsEveryAnswerThroughTwentyKills() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(environment: Self.environment(upstream))
            let rounds = KillRounds(stack: stack, source: .sqlite(path: stack.databasePath), leaseSeconds: Self.leaseSeconds)
            let figures = try rounds.run(kills: 20)
            print("crash safety, SQLite: \(figures)")
            #expect(figures.answered > 0 && figures.unanswered > 0, "the kills came during the load")
        }

        /// Ten kills rather than twenty: PostgreSQL's turns are slower, and the suite's time is shared.
        @Test func postgresKeepsEveryAnswerThroughTenKills() throws {
            let url = try PostgresCluster.shared.createDatabase()
            let upstream = try FakeOpenAI()
            let stack = try Stack(environment: Self.environment(upstream, ["ASKD_DATABASE": url]))
            let rounds = KillRounds(stack: stack, source: .postgres(url: url), leaseSeconds: Self.leaseSeconds)
            let figures = try rounds.run(kills: 10)
            print("crash safety, PostgreSQL: \(figures)")
            #expect(figures.answered > 0 && figures.unanswered > 0, "the kills came during the load")
        }

        /// askd runs in a mount namespace of its own (`unshare`), where its store's folder is a
        /// small tmpfs; a file filling that tmpfs is made and removed from inside the namespace.
        @Test(.enabled(if: privateMountsWork, "mounting a tmpfs in a mount namespace of its own needs root (CAP_SYS_ADMIN)"))
        func aFullDiskIs503AndAskdRecoversWithoutARestart() throws {
            let upstream = try FakeOpenAI()
            let disk = NSTemporaryDirectory() + "askd-disk-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: disk) }
            let database = disk + "/askd.sqlite"
            let stack = try Stack(
                environment: Self.environment(upstream, ["ASKD_DATABASE": database]),
                launcher: ["/usr/bin/unshare", "--mount", "/bin/sh", "-c", #"mount -t tmpfs -o size=4m askd-disk "$0" && exec "$@""#, disk]
            )
            let pid = stack.askd.pid
            func inside(_ command: String...) throws -> (status: Int32, stderr: String, stdout: String) {
                try Stack.run("/usr/bin/nsenter", ["-t", String(pid), "-m", "--"] + command, environment: ["ASKD_DATABASE": database])
            }
            let created = try inside(Stack.askdBinary, "token", "create", "--name", "app")
            try #require(created.status == 0, "\(created.stderr)")
            let token = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            var received: [Exchange] = []
            func ask(_ prompt: String, continuing id: String? = nil, streamed: Bool = false) -> Exchange {
                let body = #"{"prompt":"\#(prompt)""# + (id.map { #","conversation_id":"\#($0)""# } ?? "") + (streamed ? #","stream":true}"# : "}")
                let outcome = streamed
                    ? AskLoad.streamed(port: stack.port, token: token, body: body) : AskLoad.plain(port: stack.port, token: token, body: body)
                let exchange = Exchange(prompt: prompt, streamed: streamed, continued: id, outcome: outcome)
                if exchange.answered != nil { received.append(exchange) }
                return exchange
            }
            let first = ask("before the disk fills")
            let id = try #require(first.answered?.conversationID, "\(first.outcome)")

            // A load, on new and known conversations; the disk fills up under it (`cat` writes
            // until ENOSPC), and space comes back under it.
            let load = AskLoad(port: stack.port, token: token, tag: "disk", conversations: [id])
            load.start(clients: 8)
            let count = { (wanted: (Exchange) -> Bool) in load.exchanges.filter(wanted).count }
            let isRefusal = { (exchange: Exchange) in if case .failed(503, _) = exchange.outcome { true } else { false } }
            let waited = Result {
                try waitUntil("the load gets answers", seconds: 30) { count { $0.answered != nil } >= 20 }
                _ = try inside("/bin/sh", "-c", "cat /dev/zero > \(disk)/filler")
                let free = try inside("/usr/bin/stat", "-f", "-c", "%a", disk)
                #expect(free.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "free blocks: \(free.stdout) \(free.stderr)")
                try waitUntil("20 turns are refused", seconds: 30) { count(isRefusal) >= 20 }
                let answeredWhileFull = count { $0.answered != nil }
                let removed = try inside("/bin/rm", "-f", "\(disk)/filler")
                try #require(removed.status == 0, "\(removed.stderr)")
                try waitUntil("the same askd answers again", seconds: 30) { count { $0.answered != nil } >= answeredWhileFull + 20 }
            }
            try load.stop()
            try waited.get()
            let during = load.exchanges
            received += during.filter { $0.answered != nil }
            for exchange in during {
                switch exchange.outcome {
                case .answered: break
                case .failed(503, let body):
                    // Plain: the JSON body; streamed after the first delta: the error event, with its status.
                    let json = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
                    #expect(json["error"] as? String == "store unavailable", "\(exchange.prompt): \(body)")
                    let keys: Set<String> = exchange.streamed ? ["error", "status", "retry_after"] : ["error"]
                    #expect(Set(json.keys).isSubset(of: keys), "\(exchange.prompt): \(body)")
                default:
                    Issue.record("\(exchange.prompt) during the full disk: \(exchange.outcome)")
                }
            }
            let refused = during.filter(isRefusal)
            print("full disk: \(during.count) requests, \(during.count - refused.count) answered, \(refused.count) refused with 503 "
                  + "(\(refused.filter(\.streamed).count) of them streamed)")
            #expect(stack.waitForAskdExit(within: 0) == nil && stack.askd.pid == pid, "askd kept running")

            // Space is back: the same askd answers again, new and continued, plain and streamed.
            try waitUntil("askd stores turns again", seconds: 30) { ask("space is back").answered != nil }
            var again: [Exchange] = []
            try waitUntil("the earlier conversation takes turns again", seconds: 30) {
                let exchange = ask("and continues", continuing: id)
                again.append(exchange)
                return exchange.answered != nil
            }
            #expect(again.allSatisfy { $0.answered != nil || { if case .failed(409, _) = $0.outcome { true } else { false } }($0) },
                    "\(again.map(\.outcome))")
            #expect(ask("#drip 3 20 streamed again", streamed: true).answered != nil)
            #expect(ask("#drip 3 20 streamed on", continuing: id, streamed: true).answered != nil)
            #expect(stack.waitForAskdExit(within: 0) == nil && stack.askd.pid == pid, "askd was not restarted")

            let state = try StoredState.read(.sqlite(path: database, namespaceOf: pid))
            #expect(state.integrity == "ok", "integrity_check: \(state.integrity)")
            #expect(state.halfStoredTurns().isEmpty, "\(state.halfStoredTurns().prefix(10))")
            #expect(state.missing(received).isEmpty, "\(state.missing(received).prefix(10))")
            // A turn the store refused is not counted: askd does not ask a store that is down again.
            let usage = try stack.client.get("/usage", headers: [("Authorization", "Bearer \(token)")]).json()
            #expect((usage["total"] as? [String: Any])?["requests"] as? Int == state.assistantMessages.count, "\(usage)")
            #expect(!stack.askdLog.contains("status=500"), "no request failed with a 500")
        }
    }
}
