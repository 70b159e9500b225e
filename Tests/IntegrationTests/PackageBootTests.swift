import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// askd's Debian package under a real systemd: installed with apt into a Debian 12 tree
    /// (Tests/Support/boot-tree) booted by systemd-nspawn, served through the shipped site.
    /// Where nspawn cannot boot (no root, no namespaces) each test says why and is cancelled.
    @Suite struct PackageBoot {
        @Test func theInstalledPackageServesUnderSystemd() throws {
            let tree = try BootedContainer.tree()
            let packages = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("boot-packages-\(getpid())")
            try FileManager.default.createDirectory(at: packages, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: packages) }
            let package = try PackagedServer.currentPackage(into: packages)
            let container = try BootedContainer(tree: tree)
            let started = Date()
            let state = try container.boot()
            #expect(state == "running", "\((try? container.run("systemctl --failed --no-pager"))?.stdout ?? "")")
            let server = PackagedServer(container: container)
            try server.install(package)

            // Installed: the socket is enabled and listening; askd waits for the first request;
            // the site is there but not enabled; the settings are root's alone.
            #expect(try container.systemctl("is-enabled", "askd.socket") == "enabled")
            #expect(try container.systemctl("is-active", "askd.socket") == "active")
            #expect(try container.systemctl("is-active", "askd.service") == "inactive")
            #expect(try container.run("stat -c '%A %U %G' /run/askd/askd.sock").stdout == "srw-rw---- root www-data\n")
            #expect(try container.run("test -e /etc/nginx/sites-enabled/askd").status != 0, "the site is not enabled by the package")
            #expect(try container.run("stat -c '%a %U' /etc/askd/askd.env").stdout == "600 root\n")
            print("PackageBoot: installed \(URL(fileURLWithPath: package).lastPathComponent); askd.socket \(try container.systemctl("is-active", "askd.socket")), askd.service \(try container.systemctl("is-active", "askd.service"))")

            try server.configure()
            // askd-admin runs askd as the service's dynamic user, on the service's database,
            // without starting the service.
            let token = try server.createToken("boot")
            #expect(token.hasPrefix("askd_"), "\(token)")
            let owner = try container.run("stat -L -c %u /var/lib/askd/askd.sqlite").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect((61184...65519).contains(Int(owner) ?? 0), "the database belongs to a dynamic user (61184-65519), not \(owner)")
            #expect(try container.systemctl("is-active", "askd.service") == "inactive", "askd still waits for its first request")

            // The first request starts askd by socket activation, over HTTPS and HTTP/2.
            let first = try server.https("/ask", token: token, body: #"{"prompt":"hello from the boot test"}"#)
            try #require(first.status == 200, "\(first)\n\((try? server.journal()) ?? "")")
            #expect(first.httpVersion == "2")
            let response = try #require(try first.json()["response"] as? [String: Any])
            #expect((response["message"] as? String)?.contains("hello from the boot test") == true, "\(first)")
            let conversation = try #require(response["conversation_id"] as? String)
            #expect(try container.systemctl("is-active", "askd.service") == "active")
            #expect(try container.systemctl("show -P TriggeredBy", "askd.service") == "askd.socket")
            print("PackageBoot: TLS round trip: POST /ask -> HTTP/\(first.httpVersion) \(first.status), askd.service \(try container.systemctl("is-active", "askd.service")) (started by askd.socket)")

            // A restart during a streamed answer shorter than the drain lets it finish.
            let short = try restartDuringStream(server, words: 60, token: token, name: "short")
            #expect(short.text.contains("event: done"), "the stream ended without done: \(short.text.suffix(500))")
            #expect(short.deltas == 64, "every word arrived: \(short.deltas)")
            #expect(short.text.contains("curl exit 0"))
            #expect(try server.journal().contains("stopped cleanly: every in-flight request finished"))
            print("PackageBoot: drain: systemctl restart askd during a \(short.deltas)-word stream took \(short.restartSeconds) s; the stream ended with event: done")

            // One longer than the drain ends, when the drain runs out, with an `error` event (503:
            // ask again) instead of `done` (see deploy/README.md, "Upgrade").
            let long = try restartDuringStream(server, words: 200, token: token, name: "long")
            #expect(!long.text.contains("event: done"), "\(long.text.suffix(300))")
            #expect(long.text.contains("event: error\ndata: {"), "\(long.text.suffix(300))")
            #expect(long.lastLine.contains(#""status":503"#), "\(long.lastLine)")
            #expect(long.text.contains("curl exit 0"), "the response itself ended properly")
            #expect(long.deltas < 204, "the stream was cut: \(long.deltas) words")
            #expect(long.restartSeconds >= Double(PackagedServer.drainSeconds) - 0.5, "the drain waited \(long.restartSeconds) s")
            #expect(try server.journal().contains("ending the streamed answers still going with an error event"))
            print("PackageBoot: drain: a 204-word stream (8 s) was cut after \(long.deltas) words when the \(PackagedServer.drainSeconds) s drain ran out (restart took \(long.restartSeconds) s); it ended with: \(long.lastLine)")

            // kill -9: systemd restarts askd by itself (Restart=on-failure), before any request.
            let killed = try container.systemctl("show -P MainPID", "askd.service")
            #expect(try container.run("kill -9 \(killed)").status == 0)
            try waitUntil("systemd restarts askd", seconds: 10) {
                let pid = try container.systemctl("show -P MainPID", "askd.service")
                return pid != killed && pid != "0"
            }
            #expect(try container.systemctl("show -P NRestarts", "askd.service") == "1")
            let afterKill = try server.https("/ask", token: token, body: #"{"prompt":"after the kill","conversation_id":"\#(conversation)"}"#)
            #expect(afterKill.status == 200, "\(afterKill)")
            print("PackageBoot: kill -9 of askd (pid \(killed)): restarted by Restart=on-failure as pid \(try container.systemctl("show -P MainPID", "askd.service")); the next request: \(afterKill.status)")

            // The journal has a line for each request, and never a token.
            let journal = try server.journal()
            #expect(journal.contains("request method=POST path=/ask status=200"), "\(journal.suffix(2000))")
            let everything = try container.run("journalctl --no-pager -o cat").stdout
            let secret = String(token.dropFirst("askd_".count))
            #expect(!everything.contains(secret), "the token is in the journal")

            // A reboot keeps the conversations; askd again waits for the first request.
            let reboot = try container.reboot()
            #expect(reboot.exitStatus == 133, "systemd-nspawn's exit status on a reboot")
            #expect(reboot.state == "running")
            #expect(try container.systemctl("is-active", "askd.socket") == "active")
            #expect(try container.systemctl("is-active", "askd.service") == "inactive")
            let listed = try server.https("/conversations", token: token)
            #expect(listed.status == 200, "\(listed)")
            #expect(listed.body.contains(conversation), "\(listed)")
            let history = try server.https("/conversation/\(conversation)", token: token)
            #expect(history.body.contains("after the kill"), "\(history)")
            print("PackageBoot: reboot (nspawn exit \(reboot.exitStatus ?? -1)): the conversation is still listed; the test took \(Int(Date().timeIntervalSince(started))) s")
        }

        @Test func anUpgradeKeepsTheSettingsAndTheDataAndRestartsGracefully() throws {
            let tree = try BootedContainer.tree()
            let packages = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("boot-packages-\(getpid())-upgrade")
            try FileManager.default.createDirectory(at: packages, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: packages) }
            let current = try PackagedServer.currentPackage(into: packages)
            let older = try PackagedServer.package(version: "0.0.1~boottest", into: packages)
            let container = try BootedContainer(tree: tree)
            #expect(try container.boot() == "running")
            let server = PackagedServer(container: container)
            try server.install(older)
            try server.configure()
            let settings = try String(contentsOfFile: container.root + "/etc/askd/askd.env", encoding: .utf8)
            #expect(settings.hasSuffix(PackagedServer.settings))
            let token = try server.createToken("before-upgrade")
            let asked = try server.https("/ask", token: token, body: #"{"prompt":"before the upgrade"}"#)
            try #require(asked.status == 200, "\(asked)")
            let conversation = try #require(try asked.json()["response"] as? [String: Any])["conversation_id"] as? String
            let before = try container.systemctl("show -P MainPID", "askd.service")

            // The upgrade, during a streamed answer: postinst restarts askd, whose drain lets the
            // answer finish.
            let log = container.directory.appendingPathComponent("upgrade-stream.log").path
            let stream = try server.startStream(words: 100, token: token, log: log)
            try waitUntil("the stream has begun") { Self.read(log).contains("data: {\"delta\"") }
            let output = try server.install(current)
            #expect(try server.journal().contains("in_flight=1"), "the restart came while the answer was in flight")
            #expect(stream.waitForExit(within: 30) != nil)
            let text = Self.read(log)
            #expect(text.contains("event: done"), "the upgrade cut the stream: \(text.suffix(500))")
            #expect(text.contains("curl exit 0"))
            let version = try container.run("dpkg-query -W -f '${Version}' askd").stdout
            #expect(version != "0.0.1~boottest" && output.contains("Unpacking askd (\(version)) over (0.0.1~boottest)"), "\(output)")
            let after = try container.systemctl("show -P MainPID", "askd.service")
            #expect(after != before && after != "0", "postinst restarted askd: \(before) -> \(after)")
            #expect(try container.run("readlink /proc/\(after)/exe").stdout == "/usr/bin/askd\n", "the new binary runs")

            // The operator's settings and the data are kept.
            #expect(try String(contentsOfFile: container.root + "/etc/askd/askd.env", encoding: .utf8) == settings)
            let listed = try server.https("/conversations", token: token)
            #expect(listed.status == 200 && listed.body.contains(conversation ?? "-"), "\(listed)")
            print("PackageBoot: upgrade 0.0.1~boottest -> \(version) during a stream: it ended with event: done; askd pid \(before) -> \(after); settings and conversation kept")

            // Removing keeps the data and the settings; only a purge deletes them, and it leaves
            // nginx working without the site.
            let removed = try container.run("DEBIAN_FRONTEND=noninteractive apt-get remove -y askd 2>&1", timeout: 60)
            #expect(removed.status == 0, "\(removed.stdout)")
            #expect(try container.systemctl("is-active", "askd.socket") == "inactive")
            #expect(try container.run("test -f /var/lib/private/askd/askd.sqlite && test -f /etc/askd/askd.env").status == 0)
            let purged = try container.run("DEBIAN_FRONTEND=noninteractive apt-get purge -y askd 2>&1", timeout: 60)
            #expect(purged.status == 0, "\(purged.stdout)")
            #expect(try container.run("test -e /var/lib/private/askd || test -e /var/lib/askd || test -e /etc/askd").status != 0)
            #expect(try container.run("test -L /etc/nginx/sites-enabled/askd").status != 0, "the site's link went with the site")
            #expect(try container.run("nginx -t 2>&1").status == 0)
            #expect(try container.systemctl("is-active", "nginx.service") == "active")
        }

        /// Starts a stream of `words` words, restarts askd once the first word is in, and waits
        /// for the stream to end.
        private func restartDuringStream(_ server: PackagedServer, words: Int, token: String, name: String) throws
            -> (text: String, deltas: Int, restartSeconds: Double, lastLine: String)
        {
            let log = server.container.directory.appendingPathComponent("stream-\(name).log").path
            let stream = try server.startStream(words: words, token: token, log: log)
            try waitUntil("the stream has begun") { Self.read(log).contains("data: {\"delta\"") }
            let started = Date()
            let restart = try server.container.run("systemctl restart askd.service", timeout: 60)
            let seconds = (Date().timeIntervalSince(started) * 10).rounded() / 10
            #expect(restart.status == 0, "\(restart.stderr)")
            #expect(stream.waitForExit(within: 30) != nil, "the stream never ended")
            let text = Self.read(log)
            let lines = text.split(separator: "\n").filter { !$0.hasPrefix("curl exit") }
            return (text, text.components(separatedBy: "data: {\"delta\"").count - 1, seconds, String(lines.last ?? ""))
        }

        static func read(_ path: String) -> String {
            (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        }
    }
}
