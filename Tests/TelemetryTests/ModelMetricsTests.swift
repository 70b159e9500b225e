import Foundation
import Glibc
import Platform
import Store
import Testing
import Upstream

@testable import Telemetry

struct ModelMetricsTests {
    private let request = ChatRequest(model: "gpt-test", messages: [ChatMessage(role: "user", content: "hello there")])

    @Test func anAnswerIsTimedAndItsTokensCounted() throws {
        let hub = MetricsHub(provider: "openai")
        let model = MeasuredChatCompletions(Answering(delay: 0.02), metrics: hub.model)
        _ = try model.complete(request)
        let exposition = Exposition(hub)
        let labels = #"gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-test",gen_ai_response_model="gpt-test-0001""#
        #expect(exposition[#"gen_ai_client_operation_duration_seconds_count{\#(labels)}"#] == 1)
        #expect(exposition[#"gen_ai_client_operation_duration_seconds_bucket{\#(labels),le="0.01"}"#] == 0)
        #expect(exposition[#"gen_ai_client_token_usage_sum{\#(labels),gen_ai_token_type="input"}"#] == 11)
        #expect(exposition[#"gen_ai_client_token_usage_sum{\#(labels),gen_ai_token_type="output"}"#] == 5)
    }

    @Test func aFailureIsCountedByReason() {
        let hub = MetricsHub(provider: "openai")
        let model = MeasuredChatCompletions(Failing(error: .timedOut(detail: "slow")), metrics: hub.model)
        #expect(throws: UpstreamError.self) { try model.complete(request) }
        let exposition = Exposition(hub)
        #expect(exposition[#"askd_upstream_errors_total{reason="timeout"}"#] == 1)
        #expect(exposition[#"askd_upstream_errors_total{reason="failed"}"#] == 0)
        let labels = #"gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-test",error_type="timeout""#
        #expect(exposition[#"gen_ai_client_operation_duration_seconds_count{\#(labels)}"#] == 1)
    }

    @Test func aStreamsFirstChunkIsTimed() throws {
        let hub = MetricsHub(provider: "openai")
        let model = MeasuredChatCompletions(Answering(delay: 0.01), metrics: hub.model)
        _ = try model.stream(request, to: SlowClient(seconds: 0.05))
        let exposition = Exposition(hub)
        let labels = #"gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-test""#
        #expect(exposition[#"gen_ai_client_operation_time_to_first_chunk_seconds_count{\#(labels)}"#] == 1)
        let first = try #require(exposition[#"gen_ai_client_operation_time_to_first_chunk_seconds_sum{\#(labels)}"#])
        #expect(first >= 0.01 && first < 0.05)
    }

    @Test func backgroundAnswersAreTimedToTheirCompletion() async throws {
        let hub = MetricsHub(provider: "openai")
        let model = MeasuredChatCompletions(Answering(delay: 0.02), metrics: hub.model)
        await withCheckedContinuation { continuation in
            model.ask(request, streamingTo: nil) { _ in continuation.resume() }
        }
        #expect(Exposition(hub).text.contains(#"gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-test",gen_ai_response_model="gpt-test-0001"} 1"#))
    }

    @Test func responseModelsAreBounded() {
        let hub = MetricsHub(provider: "openai")
        for index in 0..<(ModelMetrics.responseModelLimit + 8) {
            hub.model.answered(request, with: ChatResponse(text: "", model: "m\(index)", finishReason: "stop", usage: nil), seconds: 0.1)
        }
        let text = Exposition(hub).text
        #expect(text.contains(#"gen_ai_response_model="_OTHER""#))
        #expect(!text.contains(#"gen_ai_response_model="m\#(ModelMetrics.responseModelLimit)""#))
        #expect(text.contains(#"gen_ai_response_model="m\#(ModelMetrics.responseModelLimit - 1)""#))
    }
}

/// Answers after `delay`, from another thread, as a model named `gpt-test-0001`, with fixed
/// usage; streams two pieces.
private struct Answering: ChatCompletions {
    let delay: Double
    var defaultModel: String { "gpt-test" }
    func forward(
        _ request: ForwardedRequest, streamingTo sink: (any CompletionChunkSink)?,
        then completion: @escaping @Sendable (Result<ForwardedAnswer, any Error>) -> Void
    ) {
        completion(.failure(UpstreamError.failed(detail: "not used here")))
    }


    func ask(
        _ request: ChatRequest, streamingTo sink: (any ChatStreamSink)?,
        then completion: @escaping @Sendable (Result<ChatResponse, any Error>) -> Void
    ) {
        let delay = delay
        Thread.detachNewThread {
            usleep(UInt32(delay * 1_000_000))
            completion(Result {
                guard let sink else {
                    return ChatResponse(
                        text: "hi", model: "gpt-test-0001", finishReason: "stop",
                        usage: TokenUsage(promptTokens: 11, completionTokens: 5, totalTokens: 16)
                    )
                }
                try sink.deliver("h")
                try sink.deliver("i")
                return ChatResponse(
                    text: "hi", model: "gpt-test-0001", finishReason: "stop", usage: TokenUsage(promptTokens: 11, completionTokens: 2, totalTokens: 13)
                )
            })
        }
    }
}

private struct Failing: ChatCompletions {
    let error: UpstreamError
    var defaultModel: String { "gpt-test" }
    func forward(
        _ request: ForwardedRequest, streamingTo sink: (any CompletionChunkSink)?,
        then completion: @escaping @Sendable (Result<ForwardedAnswer, any Error>) -> Void
    ) {
        completion(.failure(UpstreamError.failed(detail: "not used here")))
    }

    func ask(
        _ request: ChatRequest, streamingTo sink: (any ChatStreamSink)?,
        then completion: @escaping @Sendable (Result<ChatResponse, any Error>) -> Void
    ) {
        completion(.failure(error))
    }
}

/// A client that takes `seconds` to take each piece.
private struct SlowClient: ChatStreamSink {
    let seconds: Double
    func deliver(_ text: String) throws {
        usleep(UInt32(seconds * 1_000_000))
    }
    func idle() throws {}
}
