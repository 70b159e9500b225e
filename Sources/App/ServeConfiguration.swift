import API
import HTTP
import Logging
import Store
import Text

/// Everything `askd serve` needs, built once from its flags and the environment.
///
/// A flag wins over its environment variable. Every value is checked here, at start-up.
public struct ServeConfiguration: Sendable, Equatable {
    public var listen: ListenTarget
    public var server: ServerOptions
    public var logLevel: Logger.Level
    /// Debug builds only: register the `/_test/...` routes the integration tests use.
    public var testRoutes: Bool
    public var database: DatabaseLocation
    /// Whether `serve` migrates the store's schema at start-up (`ASKD_MIGRATE`, default true).
    public var migrate: Bool
    public var provider: ProviderConfiguration
    public var ask: AskSettings

    /// Whether askd keeps metrics and serves them at `/metrics` (`ASKD_METRICS`, default true).
    public var metrics: Bool
    /// A Unix socket of this process alone, serving `/metrics` (`ASKD_METRICS_SOCKET`): for a
    /// scrape per process when several share the main socket. Made with the main socket's mode
    /// and group.
    public var metricsSocket: ListenTarget?
    /// How log entries are written (`ASKD_LOG_FORMAT`: `line`, the default, or `json`).
    public var logFormat: LogFormat

    /// How long a turn lock outlives a process that died holding it (`ASKD_TURN_LEASE_SECONDS`,
    /// default 30). The lease is renewed every third of it while its turn runs, so a turn may
    /// take longer.
    public var turnLeaseSeconds: Double

    /// How share links are written: from `ASKD_PUBLIC_URL` (an absolute http or https URL) when
    /// set, else from each request's scheme and host.
    public var shareLinks: ShareLinks

    /// What the command line gave; `nil` where a flag was absent.
    public struct Flags: Sendable, Equatable {
        public var socket: String?
        public var socketMode: String?
        public var socketGroup: String?
        public var listen: String?
        public var threads: Int?
        public var drainSeconds: Double?

        public init(
            socket: String? = nil, socketMode: String? = nil, socketGroup: String? = nil,
            listen: String? = nil, threads: Int? = nil, drainSeconds: Double? = nil
        ) {
            self.socket = socket
            self.socketMode = socketMode
            self.socketGroup = socketGroup
            self.listen = listen
            self.threads = threads
            self.drainSeconds = drainSeconds
        }
    }

    public static let defaultSocketMode: UInt32 = 0o660

    public init(flags: Flags, environment: [String: String]) throws {
        let env = EnvironmentReader(environment)
        let socket = flags.socket ?? env.string("ASKD_SOCKET")
        let listenAddress = flags.listen ?? env.string("ASKD_LISTEN")
        let socketMode = try flags.socketMode.map { try Self.parseMode($0, name: "--socket-mode") }
            ?? env.value("ASKD_SOCKET_MODE") { Self.octal($0) } ?? Self.defaultSocketMode
        let socketGroup = flags.socketGroup ?? env.string("ASKD_SOCKET_GROUP")

        switch (socket, listenAddress) {
        case (.some, .some):
            throw ConfigurationError("give either a Unix socket (--socket, ASKD_SOCKET) or a TCP address (--listen, ASKD_LISTEN), not both")
        case (.some(let path), nil):
            guard !path.isEmpty else { throw ConfigurationError("--socket needs a path") }
            listen = .unix(path: path, mode: socketMode, group: socketGroup)
        case (nil, .some(let address)):
            listen = try Self.parseTCP(address)
        case (nil, nil):
            listen = .inherited
        }

        let threads = try flags.threads ?? env.value("ASKD_THREADS") { Int($0) } ?? 256
        guard (1...4096).contains(threads) else {
            throw ConfigurationError("--threads must be between 1 and 4096, not \(threads)")
        }
        let drainSeconds = try flags.drainSeconds ?? env.value("ASKD_DRAIN_SECONDS") { Double($0) } ?? 30
        guard drainSeconds >= 0, drainSeconds <= 3600 else {
            throw ConfigurationError("--drain-seconds must be between 0 and 3600, not \(drainSeconds)")
        }
        let maxBody = try env.value("ASKD_MAX_BODY_BYTES") { Int($0) } ?? 1 << 20
        guard maxBody >= 1, maxBody <= 1 << 30 else {
            throw ConfigurationError("ASKD_MAX_BODY_BYTES must be between 1 and 1073741824, not \(maxBody)")
        }
        // Chat Completions bodies carry images in content parts: /v1/ has a limit of its own.
        let maxV1Body = try env.value("ASKD_MAX_V1_BODY_BYTES") { Int($0) } ?? 20 << 20
        guard maxV1Body >= 1, maxV1Body <= 1 << 30 else {
            throw ConfigurationError("ASKD_MAX_V1_BODY_BYTES must be between 1 and 1073741824, not \(maxV1Body)")
        }
        let idleThreadSeconds = try env.value("ASKD_IDLE_THREAD_SECONDS") { Double($0) } ?? 10
        guard idleThreadSeconds >= 0.1, idleThreadSeconds <= 86_400 else {
            throw ConfigurationError("ASKD_IDLE_THREAD_SECONDS must be between 0.1 and 86400, not \(idleThreadSeconds)")
        }
        let readTimeout = try env.value("ASKD_REQUEST_READ_TIMEOUT_SECONDS", expecting: "a number of seconds from 0.1 to 3600") {
            Double($0).flatMap { $0 >= 0.1 && $0 <= 3_600 ? $0 : nil }
        } ?? 5
        let sendTimeout = try env.value("ASKD_SEND_TIMEOUT_SECONDS", expecting: "a number of seconds from 0.1 to 3600") {
            Double($0).flatMap { $0 >= 0.1 && $0 <= 3_600 ? $0 : nil }
        } ?? 30
        let maxInFlight = try env.value("ASKD_MAX_IN_FLIGHT", expecting: "a number from 1 to 1000000") {
            Int($0).flatMap { (1...1_000_000).contains($0) ? $0 : nil }
        } ?? ServerOptions().maxInFlight
        server = ServerOptions(
            threads: threads, drainSeconds: drainSeconds, maxBodyBytes: maxBody, idleWorkerSeconds: idleThreadSeconds,
            requestReadTimeoutSeconds: readTimeout, sendTimeoutSeconds: sendTimeout, maxInFlight: maxInFlight
        )
        // Imports carry whole exports: /conversations/import has a limit of its own.
        let maxImportBody = try env.value("ASKD_MAX_IMPORT_BYTES") { Int($0) } ?? 64 << 20
        guard maxImportBody >= 1, maxImportBody <= 1 << 30 else {
            throw ConfigurationError("ASKD_MAX_IMPORT_BYTES must be between 1 and 1073741824, not \(maxImportBody)")
        }
        server.maxBodyBytesByPrefix = ["/v1/": maxV1Body, "/conversations/import": maxImportBody]

        logLevel = try env.value("ASKD_LOG_LEVEL", expecting: "trace, debug, info, notice, warning, error or critical") {
            Logger.Level(rawValue: $0.lowercased())
        } ?? .info
        testRoutes = env.string("ASKD_TEST_ROUTES") == "1"
        database = try DatabaseLocation(environment: environment)
        migrate = try env.value("ASKD_MIGRATE", expecting: "1 or 0") { ServeConfiguration.boolean($0) } ?? true
        provider = try ProviderConfiguration(environment: environment)

        var ask = AskSettings()
        ask.maxPromptCharacters = try env.value("ASKD_MAX_PROMPT_CHARS") { Int($0).flatMap { $0 > 0 ? $0 : nil } } ?? ask.maxPromptCharacters
        ask.maxHistoryMessages = try env.value("ASKD_MAX_HISTORY_MESSAGES") { Int($0).flatMap { $0 >= 0 ? $0 : nil } }
            ?? ask.maxHistoryMessages
        ask.maxHistoryCharacters = try env.value("ASKD_MAX_HISTORY_CHARS") { Int($0).flatMap { $0 >= 0 ? $0 : nil } }
            ?? ask.maxHistoryCharacters
        ask.streamKeepAliveSeconds = try env.value("ASKD_STREAM_KEEPALIVE_SECONDS") {
            Double($0).flatMap { $0 >= 0.1 && $0 <= 3_600 ? $0 : nil }
        } ?? ask.streamKeepAliveSeconds
        ask.systemPrompt = env.string("ASKD_SYSTEM_PROMPT")
        ask.models = try env.value("ASKD_MODELS", expecting: "model names separated by commas") { text in
            let names = text.split(separator: ",").map { String($0.trimmingWhitespace()) }
            return names.contains(where: \.isEmpty) ? nil : names
        }
        ask.maxTokens = try env.value("ASKD_MAX_TOKENS", expecting: "a number from 1 to 1000000") {
            Int($0).flatMap { (1...1_000_000).contains($0) ? $0 : nil }
        } ?? ask.maxTokens
        ask.turnWaitSeconds = try env.value("ASKD_TURN_WAIT_SECONDS", expecting: "a number of seconds from 0 to 600") {
            Double($0).flatMap { $0 >= 0 && $0 <= 600 ? $0 : nil }
        } ?? ask.turnWaitSeconds
        ask.maxTurnWaiters = max(1, server.threads / 4)
        ask.defaultLimits = try Self.defaultLimits(env)
        self.ask = ask
        let metrics = try env.value("ASKD_METRICS", expecting: "1 or 0") { ServeConfiguration.boolean($0) } ?? true
        self.metrics = metrics
        if let path = env.string("ASKD_METRICS_SOCKET") {
            guard metrics else { throw ConfigurationError("ASKD_METRICS_SOCKET needs metrics on; ASKD_METRICS is 0") }
            guard path.hasPrefix("/") else { throw ConfigurationError("ASKD_METRICS_SOCKET must be an absolute path, not \(path)") }
            metricsSocket = .unix(path: path, mode: socketMode, group: socketGroup)
        } else {
            metricsSocket = nil
        }
        logFormat = try env.value("ASKD_LOG_FORMAT", expecting: "line or json") { LogFormat(rawValue: $0.lowercased()) } ?? .line
        shareLinks = ShareLinks(publicURL: try env.value("ASKD_PUBLIC_URL", expecting: "an absolute http or https URL, such as https://askd.example.com") {
            Self.isPublicURL($0) ? $0 : nil
        })
        turnLeaseSeconds = try env.value("ASKD_TURN_LEASE_SECONDS", expecting: "a number of seconds from 1 to 3600") {
            Double($0).flatMap { $0 >= 1 && $0 <= 3_600 ? $0 : nil }
        } ?? 30
    }

    /// The limits of tokens that set none (`ASKD_DEFAULT_*`), each a whole number from 1.
    public static func defaultLimits(environment: [String: String]) throws -> TokenLimits {
        try defaultLimits(EnvironmentReader(environment))
    }

    static func defaultLimits(_ env: EnvironmentReader) throws -> TokenLimits {
        func limit(_ name: String) throws -> Int? {
            try env.value(name, expecting: "a whole number from 1 to 1000000000000") {
                Int($0).flatMap { (1...1_000_000_000_000).contains($0) ? $0 : nil }
            }
        }
        return TokenLimits(
            requestsPerMinute: try limit("ASKD_DEFAULT_RPM"), tokensPerMinute: try limit("ASKD_DEFAULT_TPM"),
            tokensPerDay: try limit("ASKD_DEFAULT_TOKENS_PER_DAY"), maxParallel: try limit("ASKD_DEFAULT_MAX_PARALLEL")
        )
    }

    /// `127.0.0.1:9000` as a TCP target. The host must be an explicit IPv4 address.
    static func parseTCP(_ address: String) throws -> ListenTarget {
        guard let colon = address.lastIndex(of: ":") else {
            throw ConfigurationError("--listen \(address): expected HOST:PORT, such as 127.0.0.1:9000")
        }
        let host = String(address[..<colon])
        let portText = address[address.index(after: colon)...]
        guard !host.isEmpty else {
            throw ConfigurationError("--listen \(address): name the address to bind, such as 127.0.0.1\(address)")
        }
        guard Self.isIPv4(host) else {
            throw ConfigurationError("--listen \(address): \(host) is not an IPv4 address")
        }
        guard let port = UInt16(portText), port > 0 else {
            throw ConfigurationError("--listen \(address): the port must be 1 to 65535")
        }
        return .tcp(host: host, port: port)
    }

    /// `http://` or `https://`, a host, and maybe a port and a path: no query, fragment or spaces.
    static func isPublicURL(_ text: String) -> Bool {
        guard let rest = ["https://", "http://"].first(where: text.hasPrefix).map({ text.dropFirst($0.count) }) else { return false }
        let host = rest.prefix { $0 != "/" }
        return !host.isEmpty && !text.contains(where: { $0 == "?" || $0 == "#" || $0.isWhitespace || $0 == "\\" })
            && host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) }
    }

    static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "true", "yes": true
        case "0", "false", "no": false
        default: nil
        }
    }

    static func parseMode(_ text: String, name: String) throws -> UInt32 {
        guard let mode = octal(text) else {
            throw ConfigurationError("\(name) \(text): expected an octal mode such as 0660")
        }
        return mode
    }

    static func octal(_ text: String) -> UInt32? {
        guard !text.isEmpty, let mode = UInt32(text, radix: 8), mode <= 0o777 else { return nil }
        return mode
    }

    private static func isIPv4(_ host: String) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && UInt8(part) != nil
        }
    }
}
