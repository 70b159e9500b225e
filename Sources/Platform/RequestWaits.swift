import CLinux

/// What the request the calling thread is answering has spent waiting for the model and for
/// its client, in seconds: the parts of its duration that are not askd's own work.
///
/// Thread-local, so that the code that waits (an upstream call, a write to the web server) adds
/// to it without knowing the request, and without a lock. A request is on one thread at a time;
/// whoever moves it to another thread carries the figures over (`Application` does, for a
/// deferred response).
public enum RequestWaits {
    /// Clears the calling thread's figures, when it takes up a request.
    @inline(__always)
    public static func reset(upstream: Double = 0, client: Double = 0) {
        let waits = askd_thread_request_waits()!
        waits.pointee.upstream = upstream
        waits.pointee.client = client
    }

    /// Seconds spent waiting for the model, on this thread, since the last `reset`.
    @inline(__always)
    public static var upstream: Double { askd_thread_request_waits()!.pointee.upstream }

    /// Seconds spent waiting for the client, on this thread, since the last `reset`.
    @inline(__always)
    public static var client: Double { askd_thread_request_waits()!.pointee.client }

    @inline(__always)
    public static func addUpstream(_ seconds: Double) {
        askd_thread_request_waits()!.pointee.upstream += seconds
    }

    @inline(__always)
    public static func addClient(_ seconds: Double) {
        askd_thread_request_waits()!.pointee.client += seconds
    }
}
