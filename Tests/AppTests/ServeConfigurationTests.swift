@testable import App
import FastCGI
import Testing

/// A configuration from `flags` and `environment`, plus the store and provider every serve needs.
func configuration(flags: ServeConfiguration.Flags, environment: [String: String]) throws -> ServeConfiguration {
    let base = ["ASKD_DATABASE": "/tmp/askd-test.sqlite", "ASKD_PROVIDER": "echo"]
    return try ServeConfiguration(flags: flags, environment: base.merging(environment) { $1 })
}

struct ServeConfigurationTests {
    typealias Flags = ServeConfiguration.Flags

    @Test func defaults() throws {
        let defaults = try configuration(flags: Flags(), environment: [:])
        #expect(defaults.listen == .inherited)
        #expect(defaults.server.threads == 256)
        #expect(defaults.server.drainSeconds == 30)
        #expect(defaults.server.maxBodyBytes == 1_048_576)
        #expect(defaults.logLevel == .info)
        #expect(defaults.testRoutes == false)
    }

    @Test func aUnixSocketWithModeAndGroup() throws {
        let withMode = try configuration(
            flags: Flags(socket: "/run/askd/askd.sock", socketMode: "0600", socketGroup: "www-data"), environment: [:]
        )
        #expect(withMode.listen == .unix(path: "/run/askd/askd.sock", mode: 0o600, group: "www-data"))
        let byDefault = try configuration(flags: Flags(socket: "/tmp/a.sock"), environment: [:])
        #expect(byDefault.listen == .unix(path: "/tmp/a.sock", mode: 0o660, group: nil))
    }

    @Test func flagsWinOverTheEnvironment() throws {
        let environment = ["ASKD_THREADS": "8", "ASKD_DRAIN_SECONDS": "5", "ASKD_SOCKET": "/env.sock", "ASKD_SOCKET_MODE": "0640"]
        let fromEnvironment = try configuration(flags: Flags(), environment: environment)
        #expect(fromEnvironment.server.threads == 8)
        #expect(fromEnvironment.server.drainSeconds == 5)
        #expect(fromEnvironment.listen == .unix(path: "/env.sock", mode: 0o640, group: nil))
        let fromFlags = try configuration(flags: Flags(socket: "/flag.sock", threads: 4, drainSeconds: 1), environment: environment)
        #expect(fromFlags.server.threads == 4)
        #expect(fromFlags.server.drainSeconds == 1)
        #expect(fromFlags.listen == .unix(path: "/flag.sock", mode: 0o640, group: nil))
    }

    @Test func tcpAddresses() throws {
        #expect(try ServeConfiguration.parseTCP("127.0.0.1:9000") == .tcp(host: "127.0.0.1", port: 9000))
        #expect(try ServeConfiguration.parseTCP("0.0.0.0:1") == .tcp(host: "0.0.0.0", port: 1))
    }

    @Test(arguments: [":9000", "9000", "localhost:9000", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:", "256.1.1.1:80", "1.2.3:80", "[::1]:80"])
    func badTCPAddressesNameTheFlag(address: String) {
        let error = #expect(throws: ConfigurationError.self) { try ServeConfiguration.parseTCP(address) }
        #expect(error?.description.contains("--listen") == true)
    }

    @Test func socketAndListenTogetherIsAnError() {
        #expect(throws: ConfigurationError.self) {
            try configuration(flags: Flags(socket: "/a.sock", listen: "127.0.0.1:9000"), environment: [:])
        }
        #expect(throws: ConfigurationError.self) {
            try configuration(flags: Flags(), environment: ["ASKD_SOCKET": "/a.sock", "ASKD_LISTEN": "127.0.0.1:9000"])
        }
    }

    @Test(arguments: [
        ("ASKD_THREADS", "many"), ("ASKD_THREADS", "0"), ("ASKD_THREADS", "100000"),
        ("ASKD_DRAIN_SECONDS", "soon"), ("ASKD_DRAIN_SECONDS", "-1"),
        ("ASKD_MAX_BODY_BYTES", "1MB"), ("ASKD_MAX_BODY_BYTES", "0"), ("ASKD_MAX_V1_BODY_BYTES", "20MB"), ("ASKD_MAX_V1_BODY_BYTES", "0"),
        ("ASKD_LOG_LEVEL", "loud"), ("ASKD_SOCKET_MODE", "rw-rw----"), ("ASKD_SOCKET_MODE", "0999"),
        ("ASKD_SQLITE_BUSY_TIMEOUT_MS", "forever"), ("ASKD_STREAM_KEEPALIVE_SECONDS", "0"),
        ("ASKD_STREAM_KEEPALIVE_SECONDS", "often"), ("ASKD_IDLE_THREAD_SECONDS", "0"),
        ("ASKD_IDLE_THREAD_SECONDS", "a while"), ("ASKD_TURN_WAIT_SECONDS", "-1"), ("ASKD_TURN_WAIT_SECONDS", "nan"),
        ("ASKD_TURN_WAIT_SECONDS", "601"), ("ASKD_SEND_TIMEOUT_SECONDS", "0"), ("ASKD_REQUEST_READ_TIMEOUT_SECONDS", "soon"),
        ("ASKD_TURN_LEASE_SECONDS", "0.5"), ("ASKD_TURN_LEASE_SECONDS", "3601"), ("ASKD_TURN_LEASE_SECONDS", "long"),
    ])
    func aBadEnvironmentValueNamesItsVariable(name: String, value: String) {
        var environment = [name: value]
        if name == "ASKD_SOCKET_MODE" { environment["ASKD_SOCKET"] = "/a.sock" }
        let error = #expect(throws: ConfigurationError.self) {
            try configuration(flags: Flags(), environment: environment)
        }
        #expect(error?.description.contains(name) == true || error?.description.contains("between") == true)
    }

    @Test func badFlagValuesNameTheFlag() {
        let threads = #expect(throws: ConfigurationError.self) { try configuration(flags: Flags(threads: 0), environment: [:]) }
        #expect(threads?.description.contains("--threads") == true)
        let mode = #expect(throws: ConfigurationError.self) {
            try configuration(flags: Flags(socket: "/a.sock", socketMode: "abc"), environment: [:])
        }
        #expect(mode?.description.contains("--socket-mode") == true)
        let drain = #expect(throws: ConfigurationError.self) { try configuration(flags: Flags(drainSeconds: -2), environment: [:]) }
        #expect(drain?.description.contains("--drain-seconds") == true)
    }

    @Test func emptyValuesCountAsUnset() throws {
        let empty = try configuration(flags: Flags(), environment: ["ASKD_THREADS": "", "ASKD_SOCKET": ""])
        #expect(empty.server.threads == 256)
        #expect(empty.listen == .inherited)
    }

    @Test func logLevelAndBodyLimit() throws {
        let configured = try configuration(
            flags: Flags(), environment: ["ASKD_LOG_LEVEL": "Warning", "ASKD_MAX_BODY_BYTES": " 2048 "]
        )
        #expect(configured.logLevel == .warning)
        #expect(configured.server.maxBodyBytes == 2048)
        #expect(configured.server.maxBodyBytes(forPath: "/v1/chat/completions") == 20 << 20, "/v1/ has its own, for images")
        let v1 = try configuration(flags: Flags(), environment: ["ASKD_MAX_V1_BODY_BYTES": "4096"])
        #expect(v1.server.maxBodyBytes(forPath: "/v1/chat/completions") == 4096)
        #expect(v1.server.maxBodyBytes(forPath: "/ask") == 1 << 20)
    }

    @Test func idleWorkersEndAfterTenSecondsUnlessToldOtherwise() throws {
        #expect(try configuration(flags: Flags(), environment: [:]).server.idleWorkerSeconds == 10)
        let configured = try configuration(flags: Flags(), environment: ["ASKD_IDLE_THREAD_SECONDS": "2.5"])
        #expect(configured.server.idleWorkerSeconds == 2.5)
    }

    @Test func providerAndStore() throws {
        let echo = try configuration(flags: Flags(), environment: [:])
        #expect(echo.provider == .echo)
        #expect(echo.database == .sqlite(path: "/tmp/askd-test.sqlite"))
        let patient = try configuration(flags: Flags(), environment: ["ASKD_SQLITE_BUSY_TIMEOUT_MS": "2500"])
        #expect(patient.database == .sqlite(path: "/tmp/askd-test.sqlite", busyTimeoutMilliseconds: 2500))
        let openAI = try configuration(flags: Flags(), environment: ["ASKD_PROVIDER": "", "OPENAI_API_KEY": "sk-test", "ASKD_MODEL": "gpt-x"])
        #expect(openAI.provider == .openAI(baseURL: "https://api.openai.com/v1", apiKey: "sk-test", model: "gpt-x", timeoutSeconds: 120))
        let local = try configuration(flags: Flags(), environment: ["ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"])
        #expect(local.provider == .openAI(baseURL: "http://127.0.0.1:8000/v1", apiKey: nil, model: "gpt-4o-mini", timeoutSeconds: 120))
        #expect(throws: ConfigurationError.self) {
            try configuration(flags: Flags(), environment: ["ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": "ftp://x"])
        }
        #expect(throws: ConfigurationError.self) {
            try configuration(flags: Flags(), environment: ["ASKD_PROVIDER": "openai", "OPENAI_API_KEY": "k", "ASKD_UPSTREAM_TIMEOUT_SECONDS": "0"])
        }
        let unconfigured = #expect(throws: ConfigurationError.self) {
            try configuration(flags: Flags(), environment: ["ASKD_PROVIDER": "openai"])
        }
        #expect(unconfigured?.description.contains("OPENAI_API_KEY") == true)
        #expect(unconfigured?.description.contains("ASKD_PROVIDER=echo") == true)
        #expect(throws: ConfigurationError.self) { try configuration(flags: Flags(), environment: ["ASKD_PROVIDER": "magic"]) }
    }

    @Test func askLimits() throws {
        let configured = try configuration(flags: Flags(), environment: [
            "ASKD_MAX_PROMPT_CHARS": "500", "ASKD_MAX_HISTORY_MESSAGES": "4", "ASKD_MAX_HISTORY_CHARS": "900", "ASKD_SYSTEM_PROMPT": "Be kind.",
        ])
        #expect(configured.ask.maxPromptCharacters == 500)
        #expect(configured.ask.maxHistoryMessages == 4)
        #expect(configured.ask.maxHistoryCharacters == 900)
        #expect(configured.ask.systemPrompt == "Be kind.")
        #expect(try configuration(flags: Flags(), environment: [:]).ask.maxPromptCharacters == 32_000)
        #expect(try configuration(flags: Flags(), environment: [:]).ask.streamKeepAliveSeconds == 15)
        #expect(try configuration(flags: Flags(), environment: ["ASKD_STREAM_KEEPALIVE_SECONDS": "2.5"]).ask.streamKeepAliveSeconds == 2.5)
        #expect(try configuration(flags: Flags(), environment: [:]).ask.turnWaitSeconds == 10)
        let timeouts = try configuration(flags: Flags(), environment: ["ASKD_SEND_TIMEOUT_SECONDS": "2.5", "ASKD_REQUEST_READ_TIMEOUT_SECONDS": "1"])
        #expect(timeouts.server.sendTimeoutSeconds == 2.5 && timeouts.server.requestReadTimeoutSeconds == 1)
        #expect(try configuration(flags: Flags(), environment: [:]).server.requestReadTimeoutSeconds == 5)
        #expect(try configuration(flags: Flags(), environment: ["ASKD_TURN_WAIT_SECONDS": "0.5"]).ask.turnWaitSeconds == 0.5)
        #expect(try configuration(flags: Flags(), environment: [:]).turnLeaseSeconds == 30)
        #expect(try configuration(flags: Flags(), environment: ["ASKD_TURN_LEASE_SECONDS": "1.5"]).turnLeaseSeconds == 1.5)
        for name in ["ASKD_MAX_PROMPT_CHARS", "ASKD_MAX_HISTORY_MESSAGES", "ASKD_MAX_HISTORY_CHARS"] {
            let error = #expect(throws: ConfigurationError.self) { try configuration(flags: Flags(), environment: [name: "-3"]) }
            #expect(error?.description.contains(name) == true)
        }
    }
}
