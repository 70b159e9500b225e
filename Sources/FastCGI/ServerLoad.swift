/// What a `FastCGIServer` is doing now, for the metrics.
public struct ServerLoad: Sendable, Equatable {
    /// Requests accepted and not yet answered, the deferred ones included.
    public var inFlight: Int
    /// Worker threads on a request now.
    public var busyWorkers: Int
    /// Worker threads running, busy or idle.
    public var workers: Int

    public init(inFlight: Int = 0, busyWorkers: Int = 0, workers: Int = 0) {
        self.inFlight = inFlight
        self.busyWorkers = busyWorkers
        self.workers = workers
    }
}

extension FastCGIServer {
    /// The figures now, each read on its own (they may be a moment apart).
    public var load: ServerLoad {
        ServerLoad(
            inFlight: state.inFlight.load(ordering: .relaxed),
            busyWorkers: state.busyWorkers.load(ordering: .relaxed),
            workers: state.liveWorkers.load(ordering: .relaxed)
        )
    }
}
