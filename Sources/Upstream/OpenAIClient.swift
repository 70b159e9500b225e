#if canImport(Glibc)
import Glibc
#endif
import CCurl
import JSON
import Store
import Synchronization

/// The `ChatCompletions` client for any OpenAI-compatible endpoint.
///
/// `POST {baseURL}/chat/completions` with `Authorization: Bearer <apiKey>`. A whole answer from a
/// plain-http upstream is asked for by askd's own `PlainHTTPClient`; every other answer, and every
/// stream, on a `TransferLoop`'s thread. Either way ten thousand requests waiting on a slow model
/// hold no thread each; a streamed answer's pieces go to its sink from the loop's thread.
/// TLS verification is always on. A failure to connect, a 502 or a 503 is retried once after a
/// jittered pause; nothing else is, since the upstream may already have done (and billed) the work.
public final class OpenAIClient: ChatCompletions, @unchecked Sendable {
    public let defaultModel: String
    let endpoint: String
    private let authorization: String?
    let timeoutSeconds: Int
    private let connectTimeoutSeconds: Int
    let loop = TransferLoopPool()
    /// askd's own client for a plain-http upstream's whole answers; nil over TLS or a proxy.
    let plain: PlainHTTPClient?
    /// How many times the timeout a whole streamed answer may take.
    public static let streamTimeoutFactor = 4
    /// The largest answer read from the upstream.
    static let maxResponseBytes = 16 << 20

    public init(baseURL: String, apiKey: String?, model: String, timeoutSeconds: Int = 120, connectTimeoutSeconds: Int = 10) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        endpoint = base + "/chat/completions"
        authorization = apiKey.map { "Authorization: Bearer \($0)" }
        defaultModel = model
        self.timeoutSeconds = timeoutSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
        plain = PlainHTTPClient(
            url: endpoint, headers: ["Content-Type: application/json", "Accept: application/json"] + (authorization.map { [$0] } ?? []),
            timeoutSeconds: timeoutSeconds, connectTimeoutSeconds: connectTimeoutSeconds, bodyLimit: Self.maxResponseBytes
        )
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }

    deinit {
        loop.shutdown()
        plain?.shutdown()
    }

    public func ask(
        _ request: ChatRequest, streamingTo sink: (any ChatStreamSink)?,
        then completion: @escaping @Sendable (Result<ChatResponse, any Error>) -> Void
    ) {
        let body = Self.body(of: request, streaming: sink != nil)
        if sink == nil, let plain {
            plain.submit(body: body) { [self] result, mayRetry in
                settle(result, mayRetry: mayRetry, completion: completion) { reply in
                    guard (200..<300).contains(reply.status) else { throw failure(status: reply.status, body: reply.body, retryAfter: reply.retryAfter) }
                    return try Self.parse(reply.body, endpoint: endpoint)
                }
            }
            return
        }
        let model = request.model
        let reader = sink.map { ChatStreamReader(sink: $0) }
        loop.submit(.reading(
            reader: reader,
            silenceLimit: sink == nil ? nil : .seconds(timeoutSeconds),
            prepare: { [self] handle, transfer, context in prepare(handle, for: transfer, context: context, body: body) },
            outcome: { [self] code, transfer in
                do {
                    return try outcome(of: code, transfer: transfer, reader: reader, model: model)
                } catch let error where reader != nil && !(error is UpstreamError) && !(error is RetryableFailure) {
                    // The sink gave up (its client left): what the model produced until then still counts.
                    var partial = transfer.answer ?? reader!.accumulator.response(defaultModel: model)
                    if partial.usage == nil { partial.usage = .estimated(for: request, answer: partial.text) }
                    sink?.abandoned(after: partial)
                    throw error
                }
            },
            completion: completion
        ))
    }

    /// A failure worth one more try: no answer has started.
    struct RetryableFailure: Error {
        let error: UpstreamError
    }

    /// The request's JSON: the model and the messages, and for a stream, usage in its last chunk.
    static func body(of request: ChatRequest, streaming: Bool) -> [UInt8] {
        var fields: [String: JSONValue] = [
            "model": .string(request.model),
            "messages": .array(request.messages.map { .object(["role": .string($0.role), "content": .string($0.content)]) }),
        ]
        if let temperature = request.temperature { fields["temperature"] = .number(temperature) }
        if let maxTokens = request.maxTokens { fields["max_tokens"] = .integer(maxTokens) }
        if streaming {
            fields["stream"] = .bool(true)
            fields["stream_options"] = .object(["include_usage": .bool(true)])
        }
        return JSONValue.object(fields).serialized
    }

    /// Sets `handle` up, afresh, to send `body` and hand what comes back to `transfer`, whose
    /// unmanaged reference is `context`. Returns the request's header list, which must outlive
    /// the transfer.
    func prepare(
        _ handle: UnsafeMutableRawPointer, for transfer: Transfer, context: UnsafeMutableRawPointer, body: [UInt8]
    ) -> UnsafeMutablePointer<curl_slist>? {
        let streaming = transfer.reader != nil
        curl_easy_reset(handle)
        var headers: UnsafeMutablePointer<curl_slist>?
        let accept = streaming ? "Accept: text/event-stream" : "Accept: application/json"
        for line in ["Content-Type: application/json", accept, "Expect:"] + (authorization.map { [$0] } ?? []) {
            headers = curl_slist_append(headers, line)
        }

        askd_curl_set_string(handle, CURLOPT_URL, endpoint)
        askd_curl_set_long(handle, CURLOPT_NOSIGNAL, 1)
        // libcurl's smallest receive buffer, 1 KiB, instead of 16 KiB per handle: a thousand
        // requests waiting on a slow model hold a thousand handles. A chat completion of a few
        // KiB then takes a few more recv(2) calls. With 1,000 concurrent /ask (1 s upstream),
        // askd's RSS peak was 63.9 MB on average of 4 runs, against 65.8 MB with 4 KiB.
        askd_curl_set_long(handle, CURLOPT_BUFFERSIZE, 1_024)
        askd_curl_set_long(handle, CURLOPT_POST, 1)
        askd_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT, connectTimeoutSeconds)
        // Over TLS, wait for a connection being opened to say (by ALPN, in its handshake)
        // whether it speaks HTTP/2 rather than open another: requests in flight at once then
        // share one connection as streams. Plain http has no such early answer; waiting would
        // hold every request until the first one's response.
        if endpoint.hasPrefix("https://") { askd_curl_set_long(handle, CURLOPT_PIPEWAIT, 1) }
        if !streaming {
            askd_curl_set_long(handle, CURLOPT_TIMEOUT, timeoutSeconds)
        } else {
            // A streamed answer may rightly take longer than a plain one: the timeout bounds its
            // silences (the `Transfer` checks them on each progress call; libcurl's low-speed
            // limit averages over its last five seconds or more, and the request it sent
            // counts, so it let a 2 s limit pass silences of 8 s), and four times it the whole.
            askd_curl_set_long(handle, CURLOPT_TIMEOUT, Self.streamTimeoutFactor * timeoutSeconds)
        }
        askd_curl_set_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
        askd_curl_set_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
        askd_curl_set_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        askd_curl_set_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headers))
        body.withUnsafeBytes { buffer in
            askd_curl_set_long(handle, CURLOPT_POSTFIELDSIZE, buffer.count)
            askd_curl_set_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: buffer.baseAddress))
        }
        askd_curl_set_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            return transfer.receive(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
        }
        askd_curl_set_pointer(handle, CURLOPT_WRITEDATA, context)
        askd_curl_set_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            transfer.receiveHeader(String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self))
            return length
        }
        askd_curl_set_pointer(handle, CURLOPT_HEADERDATA, context)
        if streaming {
            askd_curl_set_long(handle, CURLOPT_NOPROGRESS, 0)
            askd_curl_set_xferinfo(handle) { context, _, _, _, _ in
                Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue().tick() ? 0 : 1
            }
            askd_curl_set_pointer(handle, CURLOPT_XFERINFODATA, context)
        }
        return headers
    }

    /// The answer of a transfer that ended with `code`.
    /// - Throws: `UpstreamError`, or `RetryableFailure` when no answer has started.
    func outcome(of code: CURLcode, transfer: Transfer, reader: ChatStreamReader?, model: String) throws -> ChatResponse {
        let status = try status(of: code, transfer: transfer)
        guard (200..<300).contains(status) else { throw failure(status: status, transfer: transfer) }
        guard transfer.streamed, let reader else {
            let answer = try Self.parse(transfer.body, endpoint: endpoint)
            transfer.answer = answer
            // An upstream that ignored `"stream": true`: its whole answer is one piece.
            if let reader, !answer.text.isEmpty { try reader.sink.deliver(answer.text) }
            return answer
        }
        try transfer.finish()
        // Without a finish reason or [DONE], the stream was cut short: never store a part
        // of an answer as if it were the whole.
        guard reader.sawDone || reader.accumulator.finishReason != nil else {
            throw UpstreamError.failed(detail: "\(endpoint) ended its stream before the answer was complete")
        }
        return reader.accumulator.response(defaultModel: model)
    }

    /// The HTTP status of a transfer that ended with `code`, which must be `CURLE_OK`.
    /// - Throws: what abandoned the transfer, `UpstreamError`, or `RetryableFailure`.
    func status(of code: CURLcode, transfer: Transfer) throws -> Int {
        if let failure = transfer.failure { throw failure }
        guard code == CURLE_OK else {
            let detail = "\(endpoint): \(String(cString: curl_easy_strerror(code)))"
            switch code {
            case CURLE_OPERATION_TIMEDOUT:
                throw UpstreamError.timedOut(detail: detail)
            case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST:
                // The request never reached the upstream. (A dead kept-alive connection is
                // already retried by libcurl itself; a break after sending is not retried, since
                // the upstream may be doing, and billing, the work.)
                throw RetryableFailure(error: .failed(detail: detail))
            default:
                throw UpstreamError.failed(detail: detail)
            }
        }
        var status = 0
        askd_curl_get_long(transfer.handle, CURLINFO_RESPONSE_CODE, &status)
        return status
    }

    /// The error of an answer with a status other than 2xx: `UpstreamError`, or
    /// `RetryableFailure` for a 502 or a 503.
    func failure(status: Int, transfer: Transfer) -> any Error {
        failure(status: status, body: transfer.body, retryAfter: transfer.retryAfter)
    }

    func failure(status: Int, body: [UInt8], retryAfter: String?) -> any Error {
        switch status {
        case 429:
            UpstreamError.rateLimited(retryAfter: retryAfter)
        case 401, 403:
            UpstreamError.rejectedCredentials(detail: "\(endpoint) answered \(status): \(Self.errorText(of: body))")
        case 502, 503:
            RetryableFailure(error: .failed(detail: "\(endpoint) answered \(status): \(Self.errorText(of: body))"))
        default:
            UpstreamError.failed(detail: "\(endpoint) answered \(status): \(Self.errorText(of: body))")
        }
    }

    /// Hands on the outcome of a plain-http exchange as `answer` reads it; true, handing nothing
    /// on, when it failed before any answer started and `mayRetry` allows one more attempt.
    func settle<Answer>(
        _ result: Result<PlainHTTPClient.Reply, PlainHTTPClient.Failure>, mayRetry: Bool,
        completion: @Sendable (Result<Answer, any Error>) -> Void, answer: (PlainHTTPClient.Reply) throws -> Answer
    ) -> Bool {
        let outcome: Result<Answer, any Error>
        do {
            switch result {
            case .success(let reply):
                outcome = .success(try answer(reply))
            case .failure(.couldNotConnect(let detail)):
                throw RetryableFailure(error: .failed(detail: "\(endpoint): \(detail)"))
            case .failure(.timedOut(let detail)):
                throw UpstreamError.timedOut(detail: "\(endpoint): \(detail)")
            case .failure(.broken(let detail)):
                throw UpstreamError.failed(detail: "\(endpoint): \(detail)")
            }
        } catch let failure as RetryableFailure {
            if mayRetry { return true }
            outcome = .failure(failure.error)
        } catch {
            outcome = .failure(error)
        }
        completion(outcome)
        return false
    }

    /// What the log gets of an error answer: OpenAI's error object by its `message`, `type` and
    /// `code`, never the rest of it; another body by its first 300 code points. A JSON error
    /// body may echo the request, the user's prompt included.
    static func errorText(of body: [UInt8]) -> String {
        if let answer = try? JSONParser.parse(body, maxDepth: 8), answer.object != nil {
            guard let error = answer["error"] else { return "(a JSON body without an error object)" }
            if let message = error.string { return cut(message) }
            let parts = ["message", "type", "code"].compactMap { name in error[name]?.string.map { "\(name) \(cut($0))" } }
            return parts.isEmpty ? "(an error object without a message)" : parts.joined(separator: ", ")
        }
        return cut(String(decoding: body.prefix(1_200), as: UTF8.self))
    }

    private static func cut(_ text: String) -> String {
        text.unicodeScalars.count <= 300 ? text : String(String.UnicodeScalarView(text.unicodeScalars.prefix(297))) + "..."
    }

    /// A chat.completion: the first choice's message, its finish reason, the model and usage.
    static func parse(_ body: [UInt8], endpoint: String) throws -> ChatResponse {
        let unreadable = UpstreamError.failed(
            detail: "\(endpoint) answered with an unreadable body: \(String(decoding: body.prefix(200), as: UTF8.self))"
        )
        guard String(validating: body, as: UTF8.self) != nil, let answer = try? JSONParser.parse(body, maxDepth: 64), answer.object != nil
        else { throw unreadable }
        guard let choice = answer["choices"]?.array?.first, let content = choice["message"]?["content"]?.string else {
            throw UpstreamError.failed(detail: "\(endpoint) answered without a message")
        }
        var usage: TokenUsage?
        if let prompt = answer["usage"]?["prompt_tokens"]?.integer, let completion = answer["usage"]?["completion_tokens"]?.integer {
            usage = TokenUsage.reported(prompt: prompt, completion: completion, total: answer["usage"]?["total_tokens"]?.integer)
        }
        return ChatResponse(
            text: content, model: answer["model"]?.string ?? "", finishReason: choice["finish_reason"]?.string ?? "stop", usage: usage
        )
    }
}
