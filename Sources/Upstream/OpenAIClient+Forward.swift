import CCurl
import JSON
import Store

extension OpenAIClient {
    public func forward(
        _ request: ForwardedRequest, streamingTo sink: (any CompletionChunkSink)?,
        then completion: @escaping @Sendable (Result<ForwardedAnswer, any Error>) -> Void
    ) {
        if sink == nil, let plain {
            plain.submit(body: request.body) { [self] result, mayRetry in
                settle(result, mayRetry: mayRetry, completion: completion) { reply in
                    guard (200..<300).contains(reply.status) else {
                        throw UpstreamRejection.from(status: reply.status, body: reply.body)
                            ?? failure(status: reply.status, body: reply.body, retryAfter: reply.retryAfter)
                    }
                    return try wholeAnswer(reply.body, reader: nil, request: request)
                }
            }
            return
        }
        let reader = sink.map { ForwardStreamReader(sink: $0) }
        loop.submit(.reading(
            reader: reader,
            silenceLimit: sink == nil ? nil : .seconds(timeoutSeconds),
            prepare: { [self] handle, transfer, context in prepare(handle, for: transfer, context: context, body: request.body) },
            outcome: { [self] code, transfer in
                do {
                    return try forwardOutcome(of: code, transfer: transfer, reader: reader, request: request)
                } catch let error where reader != nil && !(error is UpstreamError) && !(error is UpstreamRejection) && !(error is RetryableFailure) {
                    // The sink gave up (its client left): what the model produced until then still counts.
                    sink?.abandoned(usage: reader!.usage ?? .estimated(for: request, answerCharacters: reader!.answerCharacters))
                    throw error
                }
            },
            completion: completion
        ))
    }

    /// The answer of a forwarded transfer that ended with `code`.
    /// - Throws: `UpstreamRejection` for the client's own request, `UpstreamError`, or
    ///   `RetryableFailure` when no answer has started.
    private func forwardOutcome(
        of code: CURLcode, transfer: Transfer, reader: ForwardStreamReader?, request: ForwardedRequest
    ) throws -> ForwardedAnswer {
        let status = try status(of: code, transfer: transfer)
        guard (200..<300).contains(status) else {
            throw UpstreamRejection.from(status: status, body: transfer.body) ?? failure(status: status, transfer: transfer)
        }
        guard transfer.streamed, let reader else { return try wholeAnswer(transfer.body, reader: reader, request: request) }
        try transfer.finish()
        // Without a finish reason or [DONE], the stream was cut short.
        guard reader.sawDone || reader.finished else {
            throw UpstreamError.failed(detail: "\(endpoint) ended its stream before the answer was complete")
        }
        return ForwardedAnswer(body: [], fields: [:], usage: reader.usage ?? .estimated(for: request, answerCharacters: reader.answerCharacters))
    }

    /// A whole `chat.completion` answer; with a reader (an upstream that ignored `"stream": true`),
    /// replayed to it as a stream's chunks.
    private func wholeAnswer(_ body: [UInt8], reader: ForwardStreamReader?, request: ForwardedRequest) throws -> ForwardedAnswer {
        let unreadable = UpstreamError.failed(detail: "\(endpoint) answered with an unreadable body: \(String(decoding: body.prefix(200), as: UTF8.self))")
        guard String(validating: body, as: UTF8.self) != nil else { throw unreadable }
        if let reader {
            guard let fields = (try? JSONParser.parse(body, maxDepth: 64))?.object, fields["choices"]?.array != nil else { throw unreadable }
            try reader.replay(fields)
            return ForwardedAnswer(body: [], fields: [:], usage: Self.usage(of: fields, for: request))
        }
        // Passed on as it is: checked whole, and only the members askd reads are read.
        guard (try? JSONParser.validate(body, maxDepth: 64)) != nil, let members = JSONMembers(body), members["choices"]?.first == UInt8(ascii: "[")
        else { throw unreadable }
        var fields: [String: JSONValue] = [:]
        for name in ["id", "object", "created", "model", "usage"] {
            if let raw = members[name] { fields[name] = try? JSONParser.parse(Array(raw), maxDepth: 64) }
        }
        if fields["usage"].flatMap(TokenUsage.reported(in:)) == nil, let raw = members["choices"] {
            fields["choices"] = try? JSONParser.parse(Array(raw), maxDepth: 64)
        }
        return ForwardedAnswer(body: body, fields: fields, usage: Self.usage(of: fields, for: request))
    }

    /// What the upstream reported, or else an estimate from the choices' content.
    private static func usage(of fields: [String: JSONValue], for request: ForwardedRequest) -> TokenUsage {
        if let reported = TokenUsage.reported(in: fields["usage"]) { return reported }
        let characters = fields["choices"]?.array?.reduce(0) { $0 + ($1["message"]?["content"]?.string?.unicodeScalars.count ?? 0) } ?? 0
        return .estimated(for: request, answerCharacters: characters)
    }
}
