/// How the FastCGI server runs its workers.
public struct ServerOptions: Sendable, Equatable {
    /// The most worker threads; each owns one request from accept to finish.
    public var threads: Int
    /// Worker threads started with the server; one more starts whenever all are busy, up to `threads`.
    public var initialThreads: Int
    /// Stack size of each worker thread, in bytes.
    public var stackSize: Int
    /// How long a stop waits for in-flight requests before giving up on them.
    public var drainSeconds: Double
    /// The largest request body askd reads; a larger one gets 413 unread.
    public var maxBodyBytes: Int
    /// Other limits for the paths under a prefix, such as `/v1/`'s for images in content parts
    /// (`ASKD_MAX_V1_BODY_BYTES`).
    public var maxBodyBytesByPrefix: [String: Int] = [:]
    /// The paths under these prefixes get their body as a `RequestBodySource`, read while the
    /// handler runs, instead of whole beforehand.
    public var streamedBodyPrefixes: [String] = []
    /// How long a worker beyond the first `initialThreads` waits for work before it ends.
    public var idleWorkerSeconds: Double
    /// The longest a read from the web server waits, once a request has begun to arrive
    /// (`ASKD_REQUEST_READ_TIMEOUT_SECONDS`); then the connection is closed.
    public var requestReadTimeoutSeconds: Double
    /// The longest a write to the web server waits (`ASKD_SEND_TIMEOUT_SECONDS`); then its
    /// client counts as gone.
    public var sendTimeoutSeconds: Double
    /// The most requests askd holds at once, read or waiting or answering (`ASKD_MAX_IN_FLIGHT`);
    /// one more gets `503 server busy` at once, never a place in a queue. The default is above
    /// the 10,000 streams askd is sized for.
    public var maxInFlight: Int

    public init(
        threads: Int = 256, initialThreads: Int = 16, stackSize: Int = 512 * 1024, drainSeconds: Double = 30, maxBodyBytes: Int = 1 << 20,
        idleWorkerSeconds: Double = 10, requestReadTimeoutSeconds: Double = 5, sendTimeoutSeconds: Double = 30,
        maxInFlight: Int = 16_384
    ) {
        self.maxInFlight = maxInFlight
        self.requestReadTimeoutSeconds = requestReadTimeoutSeconds
        self.sendTimeoutSeconds = sendTimeoutSeconds
        self.threads = threads
        self.initialThreads = initialThreads
        self.stackSize = stackSize
        self.drainSeconds = drainSeconds
        self.maxBodyBytes = maxBodyBytes
        self.idleWorkerSeconds = idleWorkerSeconds
    }

    /// Whether a request to `path` gets its body as it arrives.
    public func streamsBody(forPath path: String) -> Bool {
        streamedBodyPrefixes.contains { path.hasPrefix($0) }
    }

    /// The largest body askd reads for a request to `path`.
    public func maxBodyBytes(forPath path: String) -> Int {
        for (prefix, limit) in maxBodyBytesByPrefix where path.hasPrefix(prefix) { return limit }
        return maxBodyBytes
    }
}
