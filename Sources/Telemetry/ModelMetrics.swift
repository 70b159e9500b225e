import CoreMetrics
import Platform
import Store
import Upstream

/// The model's side of the metrics: `gen_ai_client_operation_duration_seconds`,
/// `gen_ai_client_token_usage`, `gen_ai_client_operation_time_to_first_chunk_seconds` and
/// `askd_upstream_errors_total`, labelled as OpenTelemetry's GenAI client conventions say.
///
/// The request model is one askd allows (ASKD_MODELS); the response model is the upstream's
/// word, so at most `responseModelLimit` distinct ones are kept as labels, and any further one
/// is `_OTHER`. An answer's handlers (its duration and its two token types) are looked up once,
/// by the request and response models as they came.
public final class ModelMetrics: Sendable {
    static let responseModelLimit = 32

    private struct Key: Hashable, Sendable {
        let requestModel: String
        let responseModel: String

        /// Lengths, not bytes (see `RequestMetrics`): equal hashes are told apart by ==.
        func hash(into hasher: inout Hasher) {
            hasher.combine(requestModel.utf8.count)
            hasher.combine(responseModel.utf8.count)
        }
    }

    /// What an answer records into.
    private final class AnswerHandlers: Sendable {
        let duration: any RecorderHandler
        let input: any RecorderHandler
        let output: any RecorderHandler

        init(duration: any RecorderHandler, input: any RecorderHandler, output: any RecorderHandler) {
            self.duration = duration
            self.input = input
            self.output = output
        }
    }

    private struct FailureKey: Hashable, Sendable {
        let requestModel: String
        let errorType: String
    }

    private let factory: any MetricsFactory
    private let provider: String
    private let answers = HandleCache<Key, AnswerHandlers>()
    private let failures = HandleCache<FailureKey, any RecorderHandler>()
    private let firstChunks = HandleCache<String, any RecorderHandler>()
    private let errors = HandleCache<String, any CounterHandler>()
    /// The response models that have labels of their own.
    private let responseModels = Locked<Set<String>>([])

    /// - Parameter provider: `gen_ai_provider_name`, such as `openai`.
    public init(factory: any MetricsFactory, provider: String) {
        self.factory = factory
        self.provider = provider
    }

    /// The model answered `request` with `response` after `seconds`.
    func answered(_ request: ChatRequest, with response: ChatResponse, seconds: Double) {
        let handlers = handlers(request, response)
        handlers.duration.record(seconds)
        record(response.usage, into: handlers)
    }

    /// Asking the model for `request` failed with `error` after `seconds`.
    func failed(_ request: ChatRequest, error: any Error, seconds: Double) {
        let type = Self.errorType(error)
        let key = FailureKey(requestModel: request.model, errorType: type)
        failures.value(for: key) {
            factory.makeRecorder(
                label: Instruments.genAIOperationDuration.name, dimensions: labels(request.model) + [("error_type", type)], aggregate: true
            )
        }.record(seconds)
        if error is UpstreamError { upstreamErrors(reason: type).increment(by: 1) }
    }

    /// A streamed answer's first piece of text came `seconds` after the request.
    func firstChunk(_ request: ChatRequest, seconds: Double) {
        firstChunks.value(for: request.model) {
            factory.makeRecorder(label: Instruments.genAITimeToFirstChunk.name, dimensions: labels(request.model), aggregate: true)
        }.record(seconds)
    }

    /// The tokens of an answer that was cut off: what the model had used until then.
    func recordUsage(_ response: ChatResponse, for request: ChatRequest) {
        record(response.usage, into: handlers(request, response))
    }

    /// The counter of model calls failed for `reason`, made if it is not yet.
    @discardableResult
    func upstreamErrors(reason: String) -> any CounterHandler {
        errors.value(for: reason) { factory.makeCounter(label: Instruments.upstreamErrors.name, dimensions: [("reason", reason)]) }
    }

    /// `error.type` as OpenTelemetry has it: a short, fixed name.
    static func errorType(_ error: any Error) -> String {
        switch error {
        case UpstreamError.rateLimited: "rate_limited"
        case UpstreamError.rejectedCredentials: "rejected_credentials"
        case UpstreamError.timedOut: "timeout"
        case UpstreamError.failed: "failed"
        // The sink abandoned the answer: the client left.
        default: "cancelled"
        }
    }

    private func record(_ usage: TokenUsage?, into handlers: AnswerHandlers) {
        guard let usage else { return }
        handlers.input.record(Int64(usage.promptTokens))
        handlers.output.record(Int64(usage.completionTokens))
    }

    private func handlers(_ request: ChatRequest, _ response: ChatResponse) -> AnswerHandlers {
        answers.value(for: Key(requestModel: request.model, responseModel: response.model)) {
            let labels = labels(request.model) + [("gen_ai_response_model", bounded(response.model))]
            func recorder(_ instrument: Instrument, _ extra: [(String, String)] = []) -> any RecorderHandler {
                factory.makeRecorder(label: instrument.name, dimensions: labels + extra, aggregate: true)
            }
            return AnswerHandlers(
                duration: recorder(Instruments.genAIOperationDuration),
                input: recorder(Instruments.genAITokenUsage, [("gen_ai_token_type", "input")]),
                output: recorder(Instruments.genAITokenUsage, [("gen_ai_token_type", "output")])
            )
        }
    }

    private func labels(_ requestModel: String) -> [(String, String)] {
        [("gen_ai_operation_name", "chat"), ("gen_ai_provider_name", provider), ("gen_ai_request_model", requestModel)]
    }

    /// `model`, or `_OTHER` once `responseModelLimit` others have labels.
    private func bounded(_ model: String) -> String {
        responseModels.withLock { models in
            if models.contains(model) { return model }
            guard models.count < Self.responseModelLimit else { return "_OTHER" }
            models.insert(model)
            return model
        }
    }
}
