import Dispatch
import FoundationEssentials
import JSON
import Store

extension EchoProvider {
    /// Answers a forwarded request as OpenAI would shape it, with every field a strict client
    /// expects: a `chat.completion`, or its chunks word by word (a role chunk first, a finish
    /// chunk last, then the usage chunk when `stream_options.include_usage` asks for it), with
    /// `n` choices.
    public func forward(
        _ request: ForwardedRequest, streamingTo sink: (any CompletionChunkSink)?,
        then completion: @escaping @Sendable (Result<ForwardedAnswer, any Error>) -> Void
    ) {
        let reply = EchoReply(request)
        guard let sink else {
            let fields = reply.completion()
            completion(.success(ForwardedAnswer(body: JSONValue.object(fields).serialized, fields: fields, usage: reply.usage)))
            return
        }
        let steps = reply.chunkSteps(includeUsage: request.includeUsage)
        if wordDelayMicroseconds == 0 {
            for index in steps.indices {
                guard deliver(steps, index, reply, to: sink, then: completion) else { return }
            }
            completion(.success(ForwardedAnswer(body: [], fields: [:], usage: reply.usage)))
        } else {
            scheduleStep(0, of: steps, reply, sink: sink, then: completion)
        }
    }

    private func scheduleStep(
        _ index: Int, of steps: [[[String: JSONValue]]], _ reply: EchoReply, sink: any CompletionChunkSink,
        then completion: @escaping @Sendable (Result<ForwardedAnswer, any Error>) -> Void
    ) {
        // The role chunk goes at once; each word after the pause.
        let delay = index == 0 ? 0 : Int(wordDelayMicroseconds)
        Self.clock.asyncAfter(deadline: .now() + .microseconds(delay)) {
            guard deliver(steps, index, reply, to: sink, then: completion) else { return }
            if index + 1 == steps.count {
                completion(.success(ForwardedAnswer(body: [], fields: [:], usage: reply.usage)))
            } else {
                scheduleStep(index + 1, of: steps, reply, sink: sink, then: completion)
            }
        }
    }

    /// Sends step `index`; false, with `completion` called, when the sink gave up.
    private func deliver(
        _ steps: [[[String: JSONValue]]], _ index: Int, _ reply: EchoReply, to sink: any CompletionChunkSink,
        then completion: @escaping @Sendable (Result<ForwardedAnswer, any Error>) -> Void
    ) -> Bool {
        do {
            for fields in steps[index] { try sink.deliver(CompletionChunk(bytes: JSONValue.object(fields).serialized, fields: fields)) }
            return true
        } catch {
            // As a model would have billed it: the whole prompt, and the words written so far.
            let written = Self.wordCount(reply.pieces.prefix(max(0, index - 1)).joined()) * reply.choices
            sink.abandoned(usage: TokenUsage(
                promptTokens: reply.usage.promptTokens, completionTokens: written, totalTokens: reply.usage.promptTokens + written
            ))
            completion(.failure(error))
            return false
        }
    }
}

/// The echo provider's answer to a forwarded request, and its shapes.
struct EchoReply: Sendable {
    let id: String
    let created: Int
    let model: String
    let text: String
    let choices: Int
    let usage: TokenUsage
    /// The text cut into words, as a stream sends it.
    let pieces: [String]

    init(_ request: ForwardedRequest) {
        id = "chatcmpl-echo" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        created = Int(Date().timeIntervalSince1970)
        model = request.model
        let messages = request.fields["messages"]?.array ?? []
        let prompt = messages.last { $0["role"]?.string == "user" }.map(Self.text(of:)) ?? ""
        text = "[echo provider] You said: \(prompt)"
        choices = max(1, min(request.fields["n"]?.integer ?? 1, 16))
        let promptTokens = messages.reduce(0) { $0 + EchoProvider.wordCount(Self.text(of: $1)) }
        let completionTokens = EchoProvider.wordCount(text) * choices
        usage = TokenUsage(promptTokens: promptTokens, completionTokens: completionTokens, totalTokens: promptTokens + completionTokens)
        pieces = EchoProvider.pieces(of: text).map(String.init)
    }

    /// A message's text: its content string, or its text parts (an image part as "[image]").
    static func text(of message: JSONValue) -> String {
        switch message["content"] {
        case .string(let text)?: return text
        case .array(let parts)?:
            return parts.map { part in part["text"]?.string ?? (part["type"]?.string == "image_url" ? "[image]" : "") }.joined(separator: " ")
        default: return ""
        }
    }

    func completion() -> [String: JSONValue] {
        let message: JSONValue = .object(["role": .string("assistant"), "content": .string(text), "refusal": .null])
        return head(object: "chat.completion").merging([
            "choices": .array((0..<choices).map { index in
                .object(["index": .integer(index), "message": message, "logprobs": .null, "finish_reason": .string("stop")])
            }),
            "usage": usageObject,
        ]) { $1 }
    }

    /// The chunks of a stream, in the steps the echo clock paces: the role chunks, each word's,
    /// and with the last word the finish chunks and the usage chunk.
    func chunkSteps(includeUsage: Bool) -> [[[String: JSONValue]]] {
        let role = choiceChunks(includeUsage) { _ in (["role": .string("assistant"), "content": .string("")], .null) }
        var steps = [role] + pieces.map { piece in choiceChunks(includeUsage) { _ in (["content": .string(piece)], .null) } }
        var last = choiceChunks(includeUsage) { _ in ([:], .string("stop")) }
        if includeUsage { last.append(head(object: "chat.completion.chunk").merging(["choices": .array([]), "usage": usageObject]) { $1 }) }
        steps[steps.count - 1] += last
        return steps
    }

    private func choiceChunks(
        _ includeUsage: Bool, _ part: (Int) -> (delta: [String: JSONValue], finish: JSONValue)
    ) -> [[String: JSONValue]] {
        (0..<choices).map { index in
            let (delta, finish) = part(index)
            var chunk = head(object: "chat.completion.chunk")
            chunk["choices"] = .array([.object(["index": .integer(index), "delta": .object(delta), "logprobs": .null, "finish_reason": finish])])
            if includeUsage { chunk["usage"] = .null }
            return chunk
        }
    }

    private func head(object: String) -> [String: JSONValue] {
        ["id": .string(id), "object": .string(object), "created": .integer(created), "model": .string(model), "system_fingerprint": .string("echo")]
    }

    private var usageObject: JSONValue {
        .object([
            "prompt_tokens": .integer(usage.promptTokens), "completion_tokens": .integer(usage.completionTokens),
            "total_tokens": .integer(usage.totalTokens),
        ])
    }
}
