import JSON

/// A whole `chat.completion` as the `chat.completion.chunk`s a stream of it has: per choice, its
/// message as one delta (tool calls numbered by `index`), then its finish reason; then, when
/// the answer has one, a usage chunk with no choices.
enum CompletionChunks {
    static func chunks(of completion: [String: JSONValue]) -> [[String: JSONValue]] {
        var head: [String: JSONValue] = ["object": .string("chat.completion.chunk")]
        for key in ["id", "created", "model", "system_fingerprint", "service_tier"] {
            if let value = completion[key] { head[key] = value }
        }
        var chunks: [[String: JSONValue]] = []
        for (offset, choice) in (completion["choices"]?.array ?? []).enumerated() {
            let index = choice["index"] ?? .integer(offset)
            var delta = choice["message"]?.object ?? [:]
            if let calls = delta["tool_calls"]?.array {
                delta["tool_calls"] = .array(calls.enumerated().map { position, call in
                    var call = call.object ?? [:]
                    call["index"] = .integer(position)
                    return .object(call)
                })
            }
            var message = head
            message["choices"] = .array([.object(["index": index, "delta": .object(delta), "logprobs": choice["logprobs"] ?? .null, "finish_reason": .null])])
            var finish = head
            finish["choices"] = .array([.object(["index": index, "delta": .object([:]), "finish_reason": choice["finish_reason"] ?? .string("stop")])])
            chunks += [message, finish]
        }
        if let usage = completion["usage"], usage != .null {
            var last = head
            last["choices"] = .array([])
            last["usage"] = usage
            chunks.append(last)
        }
        return chunks
    }
}
