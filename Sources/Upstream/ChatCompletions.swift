import Store

/// The model behind askd: an OpenAI-compatible Chat Completions endpoint, or the echo provider.
///
/// Contract: `complete` and `stream` either return the whole answer or throw; they never return
/// a partial answer. They are called from any worker thread, for one request at a time per
/// thread, and block that thread until the answer or the timeout. `begin` gives the same answer
/// as `complete` without blocking, when `answersInBackground` says the provider can.
public protocol ChatCompletions: Sendable {
    /// The model used when a request names none.
    var defaultModel: String { get }

    /// The whole answer at once.
    /// - Throws: `UpstreamError`.
    func complete(_ request: ChatRequest) throws -> ChatResponse

    /// The answer as it is written: each piece of text goes to `sink` as soon as it arrives,
    /// and the whole answer is returned at the end, its text the concatenation of the pieces.
    /// - Throws: `UpstreamError`, or whatever `sink` threw, after abandoning the answer (the
    ///   upstream transfer is cut, so the model stops writing, and billing, it).
    func stream(_ request: ChatRequest, to sink: any ChatStreamSink) throws -> ChatResponse

    /// Whether `begin` returns before the answer, leaving the calling thread free while the
    /// model works. A provider that answers at once (echo) says no, and is simply called.
    var answersInBackground: Bool { get }

    /// Asks for the whole answer, as `complete` does, and calls `completion` exactly once with
    /// it or with the `UpstreamError`, on whatever thread the answer arrives on. `completion`
    /// must not block.
    func begin(_ request: ChatRequest, then completion: @escaping @Sendable (Result<ChatResponse, UpstreamError>) -> Void)
}

extension ChatCompletions {
    public var answersInBackground: Bool { false }

    /// `complete` on the calling thread.
    public func begin(_ request: ChatRequest, then completion: @escaping @Sendable (Result<ChatResponse, UpstreamError>) -> Void) {
        do {
            completion(.success(try complete(request)))
        } catch let error as UpstreamError {
            completion(.failure(error))
        } catch {
            completion(.failure(.failed(detail: "\(error)")))
        }
    }
}

/// Where a streamed answer goes, piece by piece.
public protocol ChatStreamSink {
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
