#if canImport(Glibc)
import Glibc
#endif
import App
import ArgumentParser
import FastCGI
import HTTP
import Logging
import Platform
import Telemetry

/// `askd serve`: the FastCGI server.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the API over FastCGI.",
        discussion: """
            With neither --socket nor --listen, askd serves the socket it inherits: fd 3 by \
            LISTEN_FDS (systemd socket activation) or fd 0 (StandardInput=socket, spawn-fcgi). \
            Each flag also has an environment variable; the flag wins.
            """
    )

    @Option(help: ArgumentHelp("Listen on a Unix socket at this path (ASKD_SOCKET).", valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp("Octal mode of the Unix socket (ASKD_SOCKET_MODE; default 0660).", valueName: "mode"))
    var socketMode: String?

    @Option(help: ArgumentHelp("Group that owns the Unix socket, such as www-data (ASKD_SOCKET_GROUP).", valueName: "group"))
    var socketGroup: String?

    @Option(help: ArgumentHelp("Listen on TCP at an IPv4 HOST:PORT, such as 127.0.0.1:9000 (ASKD_LISTEN).", valueName: "host:port"))
    var listen: String?

    @Option(help: ArgumentHelp("The most worker threads, each serving one request at a time; they start as the load needs them (ASKD_THREADS; default 256).", valueName: "n"))
    var threads: Int?

    @Option(help: ArgumentHelp("Seconds a stop waits for in-flight requests (ASKD_DRAIN_SECONDS; default 30).", valueName: "seconds"))
    var drainSeconds: Double?

    @Flag(help: "Do not bring the store's schema up to date at start-up; run askd migrate instead (ASKD_MIGRATE=0).")
    var noMigrate = false

    func run() throws {
        FastCGIServer.holdSignals()
        let openFiles = OpenFileLimit.raiseToHardLimit()
        let environment = ProcessEnvironment.current()
        MallocTuning.apply(environment: environment)
        let flags = ServeConfiguration.Flags(
            socket: socket, socketMode: socketMode, socketGroup: socketGroup,
            listen: listen, threads: threads, drainSeconds: drainSeconds
        )
        let configuration = try ServeConfiguration(flags: flags, environment: environment)
        LogSetup.bootstrap(level: configuration.logLevel, format: configuration.logFormat)
        let logger = Logger(label: "askd")

        // Everything that can be misconfigured is checked before the socket exists.
        let upstream = UpstreamFactory.make(configuration.provider)
        let migrate = !noMigrate && configuration.migrate
        // A database that is down now (at boot, in a failover) is not a reason to fail to start:
        // under systemd, failing starts soon stop the restarts, and the socket with them.
        let store = try StoreFactory.open(
            configuration.database, turnLeaseSeconds: configuration.turnLeaseSeconds, migrate: migrate, waitForDatabase: true
        )
        let listeningSocket: ListeningSocket
        do {
            listeningSocket = try ListeningSocket.open(configuration.listen, environment: environment)
        } catch {
            throw ConfigurationError("\(error)")
        }
        if StoreFactory.waitsForDatabase(store) {
            logger.warning("the database cannot be reached: askd answers 503 until it can, and migrates the schema first then")
        }
        if case .echo = configuration.provider {
            logger.warning("the echo provider answers every request (ASKD_PROVIDER=echo); it is for development and tests only")
        }
        if configuration.testRoutes {
            logger.warning("test routes are enabled (ASKD_TEST_ROUTES=1); never do this in production")
        }
        logger.info("descriptors available", metadata: ["open_files": "\(openFiles)"])
        let metrics = configuration.metrics ? MetricsHub(provider: configuration.provider.metricsName) : nil
        let (router, usage, allowances) = Routes.assemble(configuration: configuration, store: store, upstream: upstream, logger: logger, metrics: metrics)
        let structured = configuration.logFormat == .json
        let application = Application(router: router, logger: logger, recorder: metrics?.requests, structuredAccessLog: structured)
        let server = try FastCGIServer(socket: listeningSocket, application: application, options: configuration.server, logger: logger)
        if let metrics {
            metrics.setLoad { let load = server.load; return (load.inFlight, load.busyWorkers, load.workers) }
            if let target = configuration.metricsSocket {
                let side = Application(router: Routes.metricsOnly(metrics), logger: logger, recorder: metrics.requests, structuredAccessLog: structured)
                do {
                    try SideServer(socket: ListeningSocket.open(target, environment: environment), application: side).start()
                } catch {
                    throw ConfigurationError("ASKD_METRICS_SOCKET: \(error)")
                }
            }
        }
        let status = server.run()
        allowances.settleAll()
        usage.flush()
        throw ExitStatus(code: status)
    }
}
