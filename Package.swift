// swift-tools-version: 6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "askd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "askd", targets: ["askd"]),
        // The fuzz checks and everything they reach, as one archive for the libFuzzer binaries
        // that `make fuzz` links (fuzz/*.swift); nothing ships it.
        .library(name: "FuzzChecks", type: .static, targets: ["FuzzChecks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // libfcgi from Debian's libfcgi-dev. Only the FastCGI target imports it.
        .systemLibrary(
            name: "CFastCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        // SQLite from Debian's libsqlite3-dev. Only the SQLiteStore target imports it.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // libpq from Debian's libpq-dev. Only the PostgresStore target imports it.
        .systemLibrary(
            name: "CPostgres",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // OpenSSL's libcrypto from Debian's libssl-dev (SHA-256, CSPRNG). Only Auth imports it.
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // libcurl from Debian's libcurl4-openssl-dev. Only the Upstream target imports it.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // Linux calls that the Glibc module does not expose (epoll, pipe2, thread names, the usable
        // CPUs, sem_clockwait).
        .target(name: "CLinux"),
        // The OS layer every target shares: threads, locks, conditions, semaphores, the monotonic
        // clock and deadlines, system errors; built on what ThreadSanitizer can see.
        .target(name: "Platform", dependencies: ["CLinux"], swiftSettings: swiftSettings),
        // Text and byte helpers every layer shares: whitespace trimming, hex, base64url.
        .target(name: "Text", swiftSettings: swiftSettings),
        // JSON: the parser, the value type and the string writer, used by HTTP, API and Upstream.
        .target(name: "JSON", dependencies: ["Text"], swiftSettings: swiftSettings),
        // Request, Response, Router, error mapping and the server's options: no C, no FastCGI.
        .target(
            name: "HTTP",
            dependencies: ["JSON", "Platform", "Text", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // The libfcgi adapter: sockets, worker threads, params -> Request, streaming, graceful stop.
        .target(
            name: "FastCGI",
            dependencies: [
                "CFastCGI",
                "CLinux",
                "HTTP",
                "Platform",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The ConversationStore protocol, its model types and the in-memory store.
        .target(name: "Store", dependencies: ["Platform"], swiftSettings: swiftSettings),
        // The SQLite backend of ConversationStore.
        .target(name: "SQLiteStore", dependencies: ["CLinux", "CSQLite", "Platform", "Store"], swiftSettings: swiftSettings),
        // The PostgreSQL backend of ConversationStore.
        .target(name: "PostgresStore", dependencies: ["CLinux", "CPostgres", "Platform", "Store"], swiftSettings: swiftSettings),
        // Access tokens: generation, hashing, and the TokenVerifier seam.
        .target(name: "Auth", dependencies: ["CCrypto", "HTTP", "Platform", "Store", "Text"], swiftSettings: swiftSettings),
        // The model: the ChatCompletions seam, the echo provider, the OpenAI-compatible client.
        .target(name: "Upstream", dependencies: ["CCurl", "CLinux", "JSON", "Platform", "Store", "Text"], swiftSettings: swiftSettings),
        // Endpoint handlers.
        .target(
            name: "API",
            dependencies: ["Auth", "HTTP", "JSON", "Platform", "Store", "Text", "Upstream", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // Metrics: OpenTelemetry's names through swift-metrics, exposed by swift-prometheus at /metrics.
        .target(
            name: "Telemetry",
            dependencies: [
                "CLinux",
                "HTTP",
                "Platform",
                "Store",
                "Upstream",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // Configuration and wiring shared by the CLI commands.
        .target(
            name: "App",
            dependencies: [
                "API",
                "Auth",
                "HTTP",
                "JSON",
                "Platform",
                "PostgresStore",
                "SQLiteStore",
                "Store",
                "Text",
                "Telemetry",
                "Upstream",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "askd",
            dependencies: [
                "App",
                "Auth",
                "Store",
                "FastCGI",
                "Platform",
                "HTTP",
                "JSON",
                "Text",
                "Telemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings,
            // Linked by the toolchain's lld with packed relative relocations (DT_RELR, glibc 2.36+):
            // the relocation table, which the loader reads at every start and which then stays
            // mapped, shrinks from megabytes to kilobytes (BENCHMARKS.md). `-z now` binds the shared
            // libraries' symbols at start, so that the whole GOT is read-only after it (full RELRO,
            // as Debian builds do).
            linkerSettings: [.unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "-z", "-Xlinker", "now"])]
        ),
        // One check per fuzz target, each asserting its invariants: run by the libFuzzer binaries
        // of `make fuzz`, and over the saved corpus by FuzzCorpusTests.
        .target(
            name: "FuzzChecks",
            dependencies: ["API", "CFastCGI", "FastCGI", "HTTP", "JSON", "Store", "Text", "Upstream", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "TextTests", dependencies: ["Text"], swiftSettings: swiftSettings),
        .testTarget(name: "JSONTests", dependencies: ["JSON"], swiftSettings: swiftSettings),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "JSON", "Platform"], swiftSettings: swiftSettings),
        .testTarget(name: "FastCGITests", dependencies: ["FastCGI", "HTTP", "Platform"], swiftSettings: swiftSettings),
        .testTarget(name: "AppTests", dependencies: ["App", "API", "FastCGI", "HTTP", "Platform", "Store", "Upstream"], swiftSettings: swiftSettings),
        .testTarget(name: "APITests", dependencies: ["API", "Auth", "HTTP", "JSON", "Platform", "Store", "Text", "Upstream"], swiftSettings: swiftSettings),
        .testTarget(name: "AuthTests", dependencies: ["Auth", "HTTP", "Store"], swiftSettings: swiftSettings),
        .testTarget(name: "StoreTests", dependencies: ["Platform", "Store", "SQLiteStore", "PostgresStore"], swiftSettings: swiftSettings),
        .testTarget(name: "UpstreamTests", dependencies: ["JSON", "Platform", "Upstream", "Store"], swiftSettings: swiftSettings),
        .testTarget(
            name: "TelemetryTests",
            dependencies: ["HTTP", "Platform", "Store", "Telemetry", "Upstream", .product(name: "Prometheus", package: "swift-prometheus")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzChecks"], swiftSettings: swiftSettings),
        .testTarget(name: "IntegrationTests", dependencies: ["Platform"], swiftSettings: swiftSettings),
    ]
)
