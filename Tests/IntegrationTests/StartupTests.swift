import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// How `askd serve` finds its socket, and how it refuses bad input: without nginx, speaking
    /// FastCGI with libfcgi's own `cgi-fcgi` client where a request is needed.
    @Suite struct Startup {
        private func temporaryDirectory() throws -> URL {
            let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("askd-st-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        }

        /// A Unix socket bound at `path`, not yet listening, as a service manager would make it.
        private func boundUnixSocket(at path: String) throws -> Int32 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            try #require(bound == 0, "bind \(path)")
            return fd
        }

        /// One FastCGI request for `GET /healthz` to `address` (a socket path or HOST:PORT).
        private func fastCGIHealthz(_ address: String) throws -> String {
            let result = try Stack.run(
                "/usr/bin/cgi-fcgi", ["-bind", "-connect", address],
                environment: ["REQUEST_METHOD": "GET", "REQUEST_URI": "/healthz", "SCRIPT_NAME": "/healthz", "CONTENT_LENGTH": ""]
            )
            return result.stdout
        }

        private func expectOneLineError(_ arguments: [String], environment: [String: String] = [:], mentioning words: [String])
            throws
        {
            let result = try Stack.run(Stack.askdBinary, arguments, environment: environment)
            #expect(result.status == 2, "\(arguments): exit \(result.status), stderr \(result.stderr)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(arguments): \(result.stderr)")
            for word in words { #expect(result.stderr.contains(word), "\(arguments): \(result.stderr)") }
        }

        @Test func withoutASocketItSaysSoAndExits2() throws {
            try expectOneLineError(["serve"], mentioning: ["no socket to listen on", "--socket"])
        }

        @Test func badFlagsAndValuesGiveOneLineNamingTheCulprit() throws {
            try expectOneLineError(["serve", "--threads", "lots"], mentioning: ["threads"])
            try expectOneLineError(["serve", "--threads", "0", "--socket", "/tmp/x.sock"], mentioning: ["--threads"])
            try expectOneLineError(["serve", "--listen", ":9000"], mentioning: ["--listen"])
            try expectOneLineError(["serve", "--listen", "example.com:80"], mentioning: ["--listen", "IPv4"])
            try expectOneLineError(["serve", "--frobnicate"], mentioning: ["frobnicate"])
            try expectOneLineError(["serve", "--socket", "/tmp/a.sock", "--socket-mode", "777x"], mentioning: ["--socket-mode"])
            try expectOneLineError(["serve", "--socket", "/tmp/a.sock"], environment: ["ASKD_THREADS": "many"], mentioning: ["ASKD_THREADS"])
            try expectOneLineError(["serve", "--socket", "/tmp/a.sock"], environment: ["ASKD_MAX_BODY_BYTES": "1MB"], mentioning: ["ASKD_MAX_BODY_BYTES"])
            try expectOneLineError(["serve"], environment: ["LISTEN_PID": "x", "LISTEN_FDS": "1"], mentioning: ["LISTEN_PID"])
            try expectOneLineError(["serve", "--socket", "/nonexistent-dir/askd.sock"], mentioning: ["/nonexistent-dir/askd.sock"])
            try expectOneLineError(["serve", "--socket", "/tmp/a.sock", "--socket-group", "no-such-group-x"], mentioning: ["no-such-group-x"])
        }

        @Test func itRefusesToReplaceAFileThatIsNotASocket() throws {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = directory.appendingPathComponent("askd.sock").path
            try "precious".write(toFile: path, atomically: true, encoding: .utf8)
            try expectOneLineError(["serve", "--socket", path], mentioning: ["not a socket"])
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "precious")
        }

        @Test func itReplacesAStaleSocketButNotALiveOne() throws {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = directory.appendingPathComponent("askd.sock").path
            // A socket file whose server is gone.
            close(try boundUnixSocket(at: path))
            #expect(FileManager.default.fileExists(atPath: path))

            let log = directory.appendingPathComponent("askd.log").path
            let first = try Stack.launch(Stack.askdBinary, ["serve", "--socket", path, "--threads", "2"], log: log)
            defer { first.signal(SIGKILL) }
            try waitUntil("askd serves") { try fastCGIHealthz(path).contains(#"{"status":"ok"}"#) }

            try expectOneLineError(["serve", "--socket", path], mentioning: ["another process is listening"])
            #expect(try fastCGIHealthz(path).contains("Status: 200"), "the live server is untouched")
        }

        @Test func theSocketIsCreatedWithMode0660OrTheOneAskedFor() throws {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            for (flags, expected) in [([String](), 0o660), (["--socket-mode", "0600"], 0o600)] {
                let path = directory.appendingPathComponent("askd-\(expected).sock").path
                let askd = try Stack.launch(Stack.askdBinary, ["serve", "--socket", path, "--threads", "2"] + flags)
                try waitUntil("askd creates its socket") { FileManager.default.fileExists(atPath: path) }
                let attributes = try FileManager.default.attributesOfItem(atPath: path)
                #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o777 } == expected)
                askd.signal(SIGTERM)
                #expect(askd.waitForExit(within: 5) == 0)
                #expect(!FileManager.default.fileExists(atPath: path), "askd removes the socket it made")
            }
        }

        @Test func itServesTCP() throws {
            let port = try FreePort.find()
            let askd = try Stack.launch(Stack.askdBinary, ["serve", "--listen", "127.0.0.1:\(port)", "--threads", "2"])
            defer { askd.signal(SIGKILL) }
            try waitUntil("askd answers over TCP") { try fastCGIHealthz("127.0.0.1:\(port)").contains(#"{"status":"ok"}"#) }
        }

        /// A PostgreSQL database that is down when askd starts (at boot, in a failover) is no
        /// reason to fail: under systemd, failing starts soon stop the restarts.
        @Test func itServesWhileItsDatabaseIsUnreachable() throws {
            let port = try FreePort.find()
            let unreachable = try FreePort.find()
            let askd = try Stack.launch(
                Stack.askdBinary, ["serve", "--listen", "127.0.0.1:\(port)", "--threads", "2"],
                environment: ["ASKD_PROVIDER": "echo", "ASKD_DATABASE": "postgresql://askd@127.0.0.1:\(unreachable)/askd"]
            )
            defer { askd.signal(SIGKILL) }
            try waitUntil("askd answers over TCP") { try fastCGIHealthz("127.0.0.1:\(port)").contains("503") }
            #expect(try fastCGIHealthz("127.0.0.1:\(port)").contains(#"{"status":"unavailable","store":"down"}"#))
        }

        @Test func itServesASocketInheritedOnStandardInput() throws {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = directory.appendingPathComponent("inherited.sock").path
            let listener = try boundUnixSocket(at: path)
            try #require(listen(listener, 16) == 0)
            let askd = try Stack.launch(Stack.askdBinary, ["serve", "--threads", "2"], stdin: listener)
            close(listener)
            defer { askd.signal(SIGKILL) }
            try waitUntil("askd answers on the inherited socket") { try fastCGIHealthz(path).contains(#"{"status":"ok"}"#) }
            askd.signal(SIGTERM)
            #expect(askd.waitForExit(within: 5) == 0)
            #expect(FileManager.default.fileExists(atPath: path), "an inherited socket is not askd's to remove")
        }

        @Test func itServesASocketActivatedByLISTEN_FDS() throws {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = directory.appendingPathComponent("activated.sock").path
            // systemd-socket-activate starts askd on the first connection, with the socket as fd 3.
            // It passes on only the variables -E names: make tsan's TSAN_OPTIONS among them.
            let environment = Stack.askdEnvironment.merging(ProcessInfo.processInfo.environment.filter { $0.key == "TSAN_OPTIONS" }) { $1 }
            let activator = try Stack.launch(
                "/usr/bin/systemd-socket-activate",
                ["-l", path] + environment.flatMap { ["-E", "\($0.key)=\($0.value)"] } + [Stack.askdBinary, "serve", "--threads", "2"],
                log: directory.appendingPathComponent("activate.log").path
            )
            defer {
                activator.signal(SIGTERM)
                _ = activator.waitForExit(within: 5)
            }
            try waitUntil("the activator listens") { FileManager.default.fileExists(atPath: path) }
            let started = Date()
            #expect(try fastCGIHealthz(path).contains(#"{"status":"ok"}"#))
            #expect(Date().timeIntervalSince(started) < 2, "the first request, which starts askd, is answered")
            // askd's "serving" line is an info line: the log's own thread writes it a moment later.
            let logPath = directory.appendingPathComponent("activate.log").path
            try waitUntil("askd says which socket it serves") {
                ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").contains("askd is serving")
            }
            let log = try String(contentsOfFile: logPath, encoding: .utf8)
            #expect(log.contains("LISTEN_FDS"))
        }
    
        @Test func twoProcessesShareOneInheritedSocketAndBothServe() throws {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = directory.appendingPathComponent("shared.sock").path
            let listener = try boundUnixSocket(at: path)
            try #require(listen(listener, 64) == 0)
            // Like askd@1 and askd@2 on one askd.socket: two processes, the socket on fd 0 of each.
            let logs = (1...2).map { directory.appendingPathComponent("askd-\($0).log").path }
            let processes = try logs.map { log in
                try Stack.launch(Stack.askdBinary, ["serve", "--threads", "2"], environment: ["ASKD_TEST_ROUTES": "1"], log: log, stdin: listener)
            }
            close(listener)
            defer { processes.forEach { $0.signal(SIGKILL) } }
            try waitUntil("both processes serve") { logs.allSatisfy { (try? String(contentsOfFile: $0, encoding: .utf8))?.contains("askd is serving") == true } }

            // Eight slow requests at once: two processes of two workers each must share them.
            let clients = try (0..<8).map { _ in
                let client = try FastCGIClient(socketPath: path)
                try client.send(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/_test/slow?ms=300")], stdin: [], keepConnection: false)
                return client
            }
            let answers = try clients.map { try $0.readResponse() }
            #expect(answers.allSatisfy { $0.hasPrefix("Status: 200") })
            func served() -> [Int] {
                logs.map { log in
                    ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").components(separatedBy: "path=/_test/slow").count - 1
                }
            }
            // A request's line follows its answer (see LogSink).
            try waitUntil("both processes log the 8 requests", seconds: 5) { served().reduce(0, +) == 8 }
            let servedBy = served()
            #expect(servedBy.reduce(0, +) == 8)
            #expect(servedBy.allSatisfy { $0 >= 1 }, "each process served some: \(servedBy)")

            // A stop of one leaves the other serving the same socket.
            processes[0].signal(SIGTERM)
            #expect(processes[0].waitForExit(within: 5) == 0)
            #expect(FileManager.default.fileExists(atPath: path))
            #expect(try fastCGIHealthz(path).contains(#"{"status":"ok"}"#))
        }
    }
}
