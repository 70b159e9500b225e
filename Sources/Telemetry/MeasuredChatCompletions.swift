import Platform
import Store
import Upstream

/// A `ChatCompletions` that times the model it wraps: the GenAI metrics (`ModelMetrics`). (The
/// turn pipeline reports the request's own wait for the model to its response channel.)
public struct MeasuredChatCompletions: ChatCompletions {
    let base: any ChatCompletions
    let metrics: ModelMetrics

    public init(_ base: any ChatCompletions, metrics: ModelMetrics) {
        self.base = base
        self.metrics = metrics
    }

    public var defaultModel: String { base.defaultModel }
    public func ask(
        _ request: ChatRequest, streamingTo sink: (any ChatStreamSink)?,
        then completion: @escaping @Sendable (Result<ChatResponse, any Error>) -> Void
    ) {
        let started = MonotonicClock.now()
        let metrics = metrics
        let timed = sink.map { FirstChunkSink(base: $0, request: request, started: started, metrics: metrics) }
        base.ask(request, streamingTo: timed) { result in
            let seconds = MonotonicClock.now() - started
            switch result {
            case .success(let response): metrics.answered(request, with: response, seconds: seconds)
            case .failure(let error): metrics.failed(request, error: error, seconds: seconds)
            }
            completion(result)
        }
    }

    /// A forwarded call (`/v1/chat/completions`) is timed and its tokens counted as `ask`'s are,
    /// under the model the client named and the one the upstream answered with.
    public func forward(
        _ request: ForwardedRequest, streamingTo sink: (any CompletionChunkSink)?,
        then completion: @escaping @Sendable (Result<ForwardedAnswer, any Error>) -> Void
    ) {
        let started = MonotonicClock.now()
        let metrics = metrics
        let asked = ChatRequest(model: request.model, messages: [])
        base.forward(request, streamingTo: sink) { result in
            let seconds = MonotonicClock.now() - started
            switch result {
            case .success(let answer):
                let model = answer.fields["model"]?.string ?? request.model
                metrics.answered(asked, with: ChatResponse(text: "", model: model, finishReason: "stop", usage: answer.usage), seconds: seconds)
            case .failure(let error):
                metrics.failed(asked, error: error, seconds: seconds)
            }
            completion(result)
        }
    }
}

/// Passes a stream on, noting when its first piece of text came, and the tokens of an answer
/// that was cut off.
private final class FirstChunkSink: ChatStreamSink, @unchecked Sendable {
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
            metrics.firstChunk(request, seconds: MonotonicClock.now() - started)
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
