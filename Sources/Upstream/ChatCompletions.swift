import Platform
import Store

/// The model behind askd: an OpenAI-compatible Chat Completions endpoint, or the echo provider.
///
/// Contract: `ask` and `forward` return at once, and call `completion` exactly once, on whatever
/// thread the answer arrives on, with the whole answer or the error (`UpstreamError`,
/// `UpstreamRejection` from `forward`, or whatever the sink threw); never with a partial answer.
/// With a sink, each piece goes to the sink as it arrives, on that thread; neither the sink nor
/// `completion` may block.
public protocol ChatCompletions: Sendable {
    /// The model used when a request names none.
    var defaultModel: String { get }

    /// Asks for the answer, streamed piece by piece to `sink` when there is one. A sink that
    /// throws (its client left) abandons the answer: the upstream transfer is cut, so the
    /// model stops writing, and billing, it; the sink is told what the model had produced.
    func ask(
        _ request: ChatRequest, streamingTo sink: (any ChatStreamSink)?,
        then completion: @escaping @Sendable (Result<ChatResponse, any Error>) -> Void
    )

    /// Passes a Chat Completions request on as its client wrote it, and the answer back as the
    /// upstream wrote it: the whole `chat.completion`, or each chunk of a stream to `sink`
    /// (then the usage, reported or estimated, in the completion). A sink that throws abandons
    /// the answer as in `ask`, and is told the usage so far. A request the upstream refuses as
    /// the client's fault fails with `UpstreamRejection`.
    func forward(
        _ request: ForwardedRequest, streamingTo sink: (any CompletionChunkSink)?,
        then completion: @escaping @Sendable (Result<ForwardedAnswer, any Error>) -> Void
    )
}

extension ChatCompletions {
    /// The whole answer, waiting for it on the calling thread: for tools and tests.
    /// - Throws: `UpstreamError`.
    public func complete(_ request: ChatRequest) throws -> ChatResponse {
        try waitFor(request, sink: nil)
    }

    /// The answer piece by piece to `sink`, waiting for it on the calling thread.
    public func stream(_ request: ChatRequest, to sink: any ChatStreamSink) throws -> ChatResponse {
        try waitFor(request, sink: sink)
    }

    private func waitFor(_ request: ChatRequest, sink: (any ChatStreamSink)?) throws -> ChatResponse {
        let outcome = Handoff<Result<ChatResponse, any Error>>()
        ask(request, streamingTo: sink) { outcome.put($0) }
        return try outcome.take().get()
    }
}

/// Where a streamed answer goes, piece by piece, from the thread the answer arrives on.
public protocol ChatStreamSink: Sendable {
    /// Takes the next piece of the answer. Throwing abandons the answer.
    func deliver(_ text: String) throws

    /// Called about once a second while the upstream is silent, so the sink can notice a
    /// client that left, or keep an idle connection alive. Throwing abandons the answer.
    func idle() throws

    /// Told, once, what the model had produced when the sink abandoned the answer by
    /// throwing, with the usage it reported or else an estimate: the model was paid for it.
    func abandoned(after partial: ChatResponse)
}

extension ChatStreamSink {
    public func abandoned(after partial: ChatResponse) {}
}

/// One message sent to the model.
public struct ChatMessage: Sendable, Equatable, Codable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// What askd asks the model.
public struct ChatRequest: Sendable, Equatable {
    public var model: String
    public var messages: [ChatMessage]
    /// Sampling temperature (0 to 2); nil leaves the upstream's default.
    public var temperature: Double?
    /// The longest answer, in tokens; nil leaves the upstream's default.
    public var maxTokens: Int?

    public init(model: String, messages: [ChatMessage], temperature: Double? = nil, maxTokens: Int? = nil) {
        self.model = model
        self.messages = messages
        self.temperature = temperature
        self.maxTokens = maxTokens
    }
}

/// The model's whole answer.
public struct ChatResponse: Sendable, Equatable {
    public var text: String
    public var model: String
    public var finishReason: String
    public var usage: TokenUsage?

    public init(text: String, model: String, finishReason: String, usage: TokenUsage?) {
        self.text = text
        self.model = Self.storable(model)
        self.finishReason = Self.storable(finishReason)
        self.usage = usage
    }
}

extension ChatResponse {
    /// The longest model name or finish reason kept, in code points.
    static let nameLimit = 200

    /// A name the upstream chose, as every store, log and client can hold it: control
    /// characters (U+0000 among them, which PostgreSQL's TEXT refuses) become U+FFFD, and it is
    /// cut to `nameLimit` code points.
    static func storable(_ name: String) -> String {
        let scalars = name.unicodeScalars
        guard scalars.count > nameLimit || scalars.contains(where: { $0.properties.generalCategory == .control }) else { return name }
        return String(String.UnicodeScalarView(scalars.prefix(nameLimit).map { $0.properties.generalCategory == .control ? "\u{FFFD}" : $0 }))
    }
}

/// Why the model gave no answer. Details are for the log; the client sees only the status.
public enum UpstreamError: Error, Sendable, Equatable {
    /// The upstream answered 429; `retryAfter` is its `Retry-After`, if it gave one.
    case rateLimited(retryAfter: String?)
    /// The upstream refused askd's own credentials (401 or 403).
    case rejectedCredentials(detail: String)
    /// No answer within the timeout.
    case timedOut(detail: String)
    /// Anything else: unreachable, 5xx, or an answer askd cannot read.
    case failed(detail: String)
}
