import Foundation
import JSON
import Store
import Upstream

/// An upstream for `/v1/chat/completions` that answers as a test scripts it, from another
/// thread as a real one does, and keeps what it was asked.
final class ScriptedForwarder: ChatCompletions, @unchecked Sendable {
    let defaultModel = "fake-model"
    private let lock = NSLock()
    private var _forwarded: [ForwardedRequest] = []
    /// A plain answer's body.
    var body = #"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"fake-model","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#
    /// A stream's chunks.
    var chunks: [String] = []
    /// The failure after the chunks (or instead of the plain answer).
    var failure: (any Error)?
    let usage = TokenUsage(promptTokens: 5, completionTokens: 3, totalTokens: 8)

    var forwarded: [ForwardedRequest] { lock.withLock { _forwarded } }

    func forward(
        _ request: ForwardedRequest, streamingTo sink: (any CompletionChunkSink)?,
        then completion: @escaping @Sendable (Result<ForwardedAnswer, any Error>) -> Void
    ) {
        lock.withLock { _forwarded.append(request) }
        DispatchQueue.global().async { [self] in
            guard let sink else {
                if let failure { return completion(.failure(failure)) }
                let bytes = Array(body.utf8)
                let fields = (try? JSONParser.parse(bytes, maxDepth: 64))?.object ?? [:]
                completion(.success(ForwardedAnswer(body: bytes, fields: fields, usage: usage)))
                return
            }
            for (index, chunk) in chunks.enumerated() {
                let bytes = Array(chunk.utf8)
                do {
                    try sink.deliver(CompletionChunk(bytes: bytes, fields: (try? JSONParser.parse(bytes, maxDepth: 64))?.object ?? [:]))
                } catch {
                    sink.abandoned(usage: TokenUsage(promptTokens: 5, completionTokens: index, totalTokens: 5 + index))
                    completion(.failure(error))
                    return
                }
            }
            completion(failure.map { .failure($0) } ?? .success(ForwardedAnswer(body: [], fields: [:], usage: usage)))
        }
    }

    func ask(
        _ request: ChatRequest, streamingTo sink: (any ChatStreamSink)?,
        then completion: @escaping @Sendable (Result<ChatResponse, any Error>) -> Void
    ) {
        completion(.failure(UpstreamError.failed(detail: "ask is not used here")))
    }
}
