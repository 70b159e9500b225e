import CoreMetrics
import Store
import Upstream

/// The model's side of the metrics: `gen_ai_client_operation_duration_seconds`,
/// `gen_ai_client_token_usage`, `gen_ai_client_operation_time_to_first_chunk_seconds` and
/// `askd_upstream_errors_total`, labelled as OpenTelemetry's GenAI client conventions say.
///
/// The request model is one askd allows (ASKD_MODELS); the response model is the upstream's
/// word, so at most `responseModelLimit` distinct ones are kept as labels, and any further one
/// is `_OTHER`.
public final class ModelMetrics: Sendable {
    static let responseModelLimit = 32

    private struct Key: Hashable {
        let requestModel: String
        let responseModel: String
        /// The error type, or the token type, or nothing.
        let extra: String

        /// Lengths, not bytes (see `RequestMetrics`): equal hashes are told apart by ==.
        func hash(into hasher: inout Hasher) {
            hasher.combine(requestModel.utf8.count)
            hasher.combine(responseModel.utf8.count)
            hasher.combine(extra.utf8.count)
        }
    }

    private let factory: any MetricsFactory
    private let provider: String
    /// The factory's handlers, recorded into directly (see `RequestMetrics`).
    private let durations = ReadWriteLocked<[Key: any RecorderHandler]>([:])
    private let tokens = ReadWriteLocked<[Key: any RecorderHandler]>([:])
    private let firstChunks = ReadWriteLocked<[Key: any RecorderHandler]>([:])
    private let errors = ReadWriteLocked<[String: CoreMetrics.Counter]>([:])
    private let responseModels = ReadWriteLocked<Set<Name>>([])

    /// A model name hashed by its length (see `Key`).
    private struct Name: Hashable {
        let text: String

        func hash(into hasher: inout Hasher) {
            hasher.combine(text.utf8.count)
        }
    }

    /// - Parameter provider: `gen_ai_provider_name`, such as `openai`.
    public init(factory: any MetricsFactory, provider: String) {
        self.factory = factory
        self.provider = provider
    }

    /// The model answered `request` with `response` after `seconds`.
    func answered(_ request: ChatRequest, with response: ChatResponse, seconds: Double) {
        let responseModel = bounded(response.model)
        recorder(in: durations, Key(requestModel: request.model, responseModel: responseModel, extra: ""), Instruments.genAIOperationDuration)
            .record(seconds)
        recordUsage(response, for: request)
    }

    /// Asking the model for `request` failed with `error` after `seconds`; `partial` is what it
    /// had produced, when a stream was abandoned.
    func failed(_ request: ChatRequest, error: any Error, seconds: Double) {
        let type = Self.errorType(error)
        recorder(in: durations, Key(requestModel: request.model, responseModel: "", extra: type), Instruments.genAIOperationDuration)
            .record(seconds)
        if error is UpstreamError { counter(reason: type).increment() }
    }

    /// A streamed answer's first piece of text came `seconds` after the request.
    func firstChunk(_ request: ChatRequest, seconds: Double) {
        recorder(in: firstChunks, Key(requestModel: request.model, responseModel: "", extra: ""), Instruments.genAITimeToFirstChunk)
            .record(seconds)
    }

    /// The tokens of an answer: a whole one, or what a cut stream had used.
    func recordUsage(_ response: ChatResponse, for request: ChatRequest) {
        guard let usage = response.usage else { return }
        let responseModel = bounded(response.model)
        for (type, count) in [("input", usage.promptTokens), ("output", usage.completionTokens)] {
            recorder(in: tokens, Key(requestModel: request.model, responseModel: responseModel, extra: type), Instruments.genAITokenUsage)
                .record(Int64(count))
        }
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

    private func bounded(_ model: String) -> String {
        if responseModels.read({ $0.contains(Name(text: model)) }) { return model }
        return responseModels.write { models in
            guard models.count < Self.responseModelLimit else { return "_OTHER" }
            models.insert(Name(text: model))
            return model
        }
    }

    private func recorder(in cache: ReadWriteLocked<[Key: any RecorderHandler]>, _ key: Key, _ instrument: Instrument) -> any RecorderHandler {
        if let made = cache.read({ $0[key] }) { return made }
        return cache.write { cache in
            if let made = cache[key] { return made }
            var labels = [
                ("gen_ai_operation_name", "chat"), ("gen_ai_provider_name", provider), ("gen_ai_request_model", key.requestModel),
            ]
            if !key.responseModel.isEmpty { labels.append(("gen_ai_response_model", key.responseModel)) }
            if !key.extra.isEmpty {
                labels.append((instrument == Instruments.genAITokenUsage ? "gen_ai_token_type" : "error_type", key.extra))
            }
            let made = factory.makeRecorder(label: instrument.name, dimensions: labels, aggregate: true)
            cache[key] = made
            return made
        }
    }

    /// The counter of model calls failed for `reason`, made if it is not yet.
    @discardableResult
    func upstreamErrors(reason: String) -> CoreMetrics.Counter {
        counter(reason: reason)
    }

    private func counter(reason: String) -> CoreMetrics.Counter {
        if let made = errors.read({ $0[reason] }) { return made }
        return errors.write { errors in
            if let made = errors[reason] { return made }
            let made = CoreMetrics.Counter(label: Instruments.upstreamErrors.name, dimensions: [("reason", reason)], factory: factory)
            errors[reason] = made
            return made
        }
    }
}
