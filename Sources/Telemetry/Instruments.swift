/// Every metric askd exports, with its HELP text and buckets (the catalogue that the factory,
/// the dashboard and the alert rules are checked against).
public enum Instruments {
    /// OpenTelemetry's buckets for `http.server.request.duration`.
    static let httpBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
    /// OpenTelemetry's buckets for `gen_ai.client.operation.duration` and its time to first chunk.
    static let genAIDurationBuckets: [Double] = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
    /// OpenTelemetry's buckets for `gen_ai.client.token.usage`.
    static let tokenBuckets: [Double] = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
    /// askd's own time per request, from 0.1 ms.
    static let overheadBuckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1]
    /// OpenTelemetry's buckets for `db.client.operation.duration`.
    static let storeBuckets: [Double] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]

    static let genAILabels = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model"]

    public static let httpServerRequestDuration = Instrument(
        "http_server_request_duration_seconds", .histogram(httpBuckets),
        labels: ["http_request_method", "http_route", "http_response_status_code"],
        help: "Duration of HTTP server requests, from the first byte read to the last byte sent."
    )
    public static let genAIOperationDuration = Instrument(
        "gen_ai_client_operation_duration_seconds", .histogram(genAIDurationBuckets), labels: genAILabels + ["error_type"],
        help: "Duration of the model's answers (GenAI client operations), as askd waited for them."
    )
    public static let genAITokenUsage = Instrument(
        "gen_ai_client_token_usage", .histogram(tokenBuckets), labels: genAILabels + ["gen_ai_token_type"],
        help: "Tokens used per model answer, as the model reported them, by type (input or output)."
    )
    public static let genAITimeToFirstChunk = Instrument(
        "gen_ai_client_operation_time_to_first_chunk_seconds", .histogram(genAIDurationBuckets), labels: genAILabels,
        help: "Time from asking the model for a streamed answer to its first piece of text."
    )
    public static let overhead = Instrument(
        "askd_overhead_seconds", .histogram(overheadBuckets), labels: ["http_request_method", "http_route"],
        help: "askd's own time per request: its duration less the time spent waiting for the model and for the client."
    )
    public static let requestsInFlight = Instrument(
        "askd_requests_in_flight", .gauge, help: "Requests accepted and not yet answered, waiting ones included."
    )
    public static let streamsOpen = Instrument("askd_streams_open", .gauge, help: "Streamed answers (Server-Sent Events) in progress.")
    public static let rateLimited = Instrument(
        "askd_rate_limited_total", .counter, labels: ["limit"], help: "Requests askd refused with a 429, by the limit that refused them."
    )
    public static let upstreamErrors = Instrument(
        "askd_upstream_errors_total", .counter, labels: ["reason"], help: "Model calls that failed, by reason."
    )
    public static let storeUp = Instrument(
        "askd_store_up", .gauge, help: "Whether the store (SQLite or PostgreSQL) answered its last check: 1 up, 0 down."
    )
    public static let storeOperationDuration = Instrument(
        "askd_store_operation_duration_seconds", .histogram(storeBuckets), labels: ["operation", "error_type"],
        help: "Duration of store operations, by operation."
    )
    public static let workerThreads = Instrument(
        "askd_worker_threads", .gauge, labels: ["state"],
        help: "askd's worker threads by state: busy on a request, or idle waiting for one."
    )
    public static let processResidentMemory = Instrument("process_resident_memory_bytes", .gauge, help: "Resident memory size in bytes.")
    public static let processVirtualMemory = Instrument("process_virtual_memory_bytes", .gauge, help: "Virtual memory size in bytes.")
    public static let processCPUSeconds = Instrument(
        "process_cpu_seconds_total", .counter, help: "Total user and system CPU time spent in seconds."
    )
    public static let processOpenFDs = Instrument("process_open_fds", .gauge, help: "Number of open file descriptors.")
    public static let processMaxFDs = Instrument("process_max_fds", .gauge, help: "Maximum number of open file descriptors.")
    public static let processStartTime = Instrument(
        "process_start_time_seconds", .gauge, help: "Start time of the process since the Unix epoch in seconds."
    )
    public static let processThreads = Instrument("process_threads", .gauge, help: "Number of OS threads in the process.")

    /// Every instrument above.
    public static let all: [Instrument] = [
        httpServerRequestDuration, genAIOperationDuration, genAITokenUsage, genAITimeToFirstChunk, overhead,
        requestsInFlight, streamsOpen, rateLimited, upstreamErrors, storeUp, storeOperationDuration, workerThreads,
        processResidentMemory, processVirtualMemory, processCPUSeconds, processOpenFDs, processMaxFDs, processStartTime, processThreads,
    ]

    /// The instrument named `name`, if askd has one.
    static func named(_ name: String) -> Instrument? {
        byName[name]
    }

    private static let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
}
