import Platform
import Store
import Upstream

/// A `ChatCompletions` that times the model it wraps: the GenAI metrics (`ModelMetrics`), and
/// the request's time waiting for the model (`RequestWaits.upstream`), which askd's overhead
/// leaves out.
///
/// A stream's duration counts as waiting for the model, less the time its writes to the client
/// took (already counted as waiting for the client).
public struct MeasuredChatCompletions: ChatCompletions {
    let base: any ChatCompletions
    let metrics: ModelMetrics

    public init(_ base: any ChatCompletions, metrics: ModelMetrics) {
        self.base = base
        self.metrics = metrics
    }

    public var defaultModel: String { base.defaultModel }
    public var answersInBackground: Bool { base.answersInBackground }

    public func complete(_ request: ChatRequest) throws -> ChatResponse {
        let started = MonotonicSeconds.now()
        do {
            let response = try base.complete(request)
            let seconds = MonotonicSeconds.now() - started
            RequestWaits.addUpstream(seconds)
            metrics.answered(request, with: response, seconds: seconds)
            return response
        } catch {
            let seconds = MonotonicSeconds.now() - started
            RequestWaits.addUpstream(seconds)
            metrics.failed(request, error: error, seconds: seconds)
            throw error
        }
    }

    public func stream(_ request: ChatRequest, to sink: any ChatStreamSink) throws -> ChatResponse {
        let started = MonotonicSeconds.now()
        let clientBefore = RequestWaits.client
        let timed = FirstChunkSink(base: sink, request: request, started: started, metrics: metrics)
        defer { RequestWaits.addUpstream(max(0, MonotonicSeconds.now() - started - (RequestWaits.client - clientBefore))) }
        do {
            let response = try base.stream(request, to: timed)
            metrics.answered(request, with: response, seconds: MonotonicSeconds.now() - started)
            return response
        } catch {
            metrics.failed(request, error: error, seconds: MonotonicSeconds.now() - started)
            throw error
        }
    }

    public func begin(_ request: ChatRequest, then completion: @escaping @Sendable (Result<ChatResponse, UpstreamError>) -> Void) {
        let started = MonotonicSeconds.now()
        let metrics = metrics
        base.begin(request) { result in
            let seconds = MonotonicSeconds.now() - started
            switch result {
            case .success(let response): metrics.answered(request, with: response, seconds: seconds)
            case .failure(let error): metrics.failed(request, error: error, seconds: seconds)
            }
            completion(result)
        }
    }
}

/// Passes a stream on, noting when its first piece of text came, and the tokens of an answer
/// that was cut off.
private final class FirstChunkSink: ChatStreamSink {
    let base: any ChatStreamSink
    let request: ChatRequest
    let started: Double
    let metrics: ModelMetrics
    private var seenFirst = false

    init(base: any ChatStreamSink, request: ChatRequest, started: Double, metrics: ModelMetrics) {
        self.base = base
        self.request = request
        self.started = started
        self.metrics = metrics
    }

    func deliver(_ text: String) throws {
        if !seenFirst {
            seenFirst = true
            metrics.firstChunk(request, seconds: MonotonicSeconds.now() - started)
        }
        try base.deliver(text)
    }

    func idle() throws {
        try base.idle()
    }

    func abandoned(after partial: ChatResponse) {
        metrics.recordUsage(partial, for: request)
        base.abandoned(after: partial)
    }
}
