import HTTP
import JSON
import Logging
import Upstream

/// Deliver: how a turn's outcome reaches its client through the `ResponseChannel`. A plain turn
/// gets one JSON body. A streamed one gets Server-Sent Events (`EventStream`): the pieces as the
/// model writes them, then `done` with the object a plain answer has; an error before the first
/// piece still gets its HTTP status and JSON body, after it an `error` event.
struct TurnDelivery: Sendable {
    let channel: any ResponseChannel
    /// The stream's events, or nil for a plain answer.
    let events: EventStream?
    /// For what an error event cannot tell the client.
    let logger: Logger

    init(input: AskInput, channel: any ResponseChannel, settings: AskSettings, logger: Logger) {
        self.channel = channel
        self.logger = logger
        events = input.stream ? EventStream(channel: channel, keepAliveSeconds: settings.streamKeepAliveSeconds) : nil
    }

    /// The stored answer.
    func answer(conversationID: String, _ answer: ChatResponse) {
        let body = AskResponse.body(conversationID: conversationID, answer: answer).serialized
        guard let events else {
            channel.respond(.json(.ok, body))
            return
        }
        do {
            try events.send(event: "done", data: body)
        } catch {
            logger.info("the client left before the last event of a streamed answer; the turn is stored")
        }
        channel.end()
    }

    /// The turn failed with `error` (as the client sees it), or its client left.
    func fail(_ error: any Error) {
        guard let events, channel.started, !(error is ClientDisconnected) else {
            channel.fail(error)
            return
        }
        let failure: HTTPError
        if let error = (error as? HTTPError) ?? (error as? any HTTPErrorConvertible)?.httpError {
            failure = error
            // Application logs the detail of an error that becomes a response; this one is an event.
            if let detail = error.logDetail { logger.error("\(detail)") }
        } else {
            logger.error("unexpected error during a streamed answer", metadata: ["error": "\(String(reflecting: error))"])
            failure = .opaque(requestID: channel.requestID)
        }
        try? events.send(event: "error", data: Self.errorEvent(failure))
        channel.end()
    }

    /// `{"error": ..., "status": ...}` and the error's other fields: the status the answer would
    /// have had, had it not started already (and `retry_after`, its Retry-After, for a 429 or a 503).
    static func errorEvent(_ error: HTTPError) -> [UInt8] {
        var fields: [String: JSONValue] = ["error": .string(error.message), "status": .integer(error.status.code)]
        for (key, value) in error.fields { fields[key] = .string(value) }
        if let retryAfter = error.headers["Retry-After"] { fields["retry_after"] = .string(retryAfter) }
        return JSONValue.object(fields).serialized
    }
}
