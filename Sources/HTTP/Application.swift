import JSON
import Logging
import Platform

/// Turns requests into responses: assigns the request id, routes, and maps errors.
///
/// This is the one place where errors become responses. An `HTTPError` becomes its status and
/// `{"error": ...}` body (or the body of the `ErrorFormat` the router has for the path); anything else becomes an opaque 500 with the request id, and its details
/// go only to the log. Every response carries `X-Request-Id`.
public struct Application: Sendable {
    public let router: Router
    public let logger: Logger
    /// Where each answered request is counted (askd's metrics); nil counts nothing.
    public let recorder: (any RequestRecorder)?
    /// Whether the access-log entry carries its figures as metadata (for a structured log
    /// handler, such as JSON lines) rather than in the message.
    public let structuredAccessLog: Bool

    public init(router: Router, logger: Logger, recorder: (any RequestRecorder)? = nil, structuredAccessLog: Bool = false) {
        self.router = router
        self.logger = logger
        self.recorder = recorder
        self.structuredAccessLog = structuredAccessLog
    }

    /// Gives `request` its id and answers it.
    public func respond(to request: inout Request) -> Response {
        assignID(to: &request)
        RequestWaits.reset()
        let response: Response
        let (resolution, route) = router.resolveWithRoute(method: request.method, path: request.path)
        request.route = route
        switch resolution {
        case .matched(let handler, let parameters):
            request.parameters = parameters
            do {
                response = try handler(request)
            } catch {
                response = errorResponse(for: error, request: request)
            }
        case .methodNotAllowed(let allow):
            response = errorResponse(for: HTTPError.methodNotAllowed(allow: allow), request: request)
        case .notFound:
            let error = router.errorFormat(for: request.path).noSuchEndpoint(method: request.method, path: request.path)
            response = errorResponse(for: error, request: request)
        }
        return stamped(response, id: request.id)
    }

    /// Gives `request` its id and answers it with `error`, for requests the transport could not
    /// read in full (a body over the limit, a malformed length).
    public func respond(to request: inout Request, failingWith error: any Error) -> Response {
        assignID(to: &request)
        RequestWaits.reset()
        return errorResponse(for: error, request: request)
    }

    /// The response for an error that escaped a handler or a stream, stamped with the request id.
    /// Only this function turns an error into a response.
    public func errorResponse(for error: any Error, request: Request) -> Response {
        let httpError: HTTPError
        if let error = (error as? HTTPError) ?? (error as? any HTTPErrorConvertible)?.httpError {
            httpError = error
            if let detail = error.logDetail {
                logger.error("\(detail)", metadata: ["request_id": "\(request.id)"])
            }
            if let limit = error.refusedBy { recorder?.refused(by: limit) }
        } else {
            logger.error(
                "unexpected error",
                metadata: ["request_id": "\(request.id)", "error": "\(String(reflecting: error))"]
            )
            httpError = .opaque(requestID: request.id)
        }
        let (body, headers) = router.errorFormat(for: request.path).body(of: httpError, requestID: request.id)
        var response = Response.json(httpError.status, body, headers: httpError.headers)
        for (name, value) in headers { response.headers.replaceOrAdd(name: name, value: value) }
        if httpError.status == .unauthorized && !response.headers.contains("WWW-Authenticate") {
            response.headers.add(name: "WWW-Authenticate", value: "Bearer")
        }
        return stamped(response, id: request.id)
    }

    /// Counts the answered request (see `recorder`) and writes the access-log line: method, path,
    /// status, duration and request id. Never the query, the headers or the body, which may
    /// carry secrets. Called on the thread that sent the answer.
    /// - Parameters:
    ///   - upstreamSeconds, clientSeconds: what the request spent waiting for the model and for
    ///     its client; by default, what the calling thread counted (`RequestWaits`).
    public func logCompletion(
        of request: Request, status: Int, seconds: Double, clientGone: Bool = false, upstreamSeconds: Double? = nil,
        clientSeconds: Double? = nil
    ) {
        recorder?.requestFinished(
            route: request.route, method: request.method, status: status, seconds: seconds,
            upstreamSeconds: upstreamSeconds ?? RequestWaits.upstream, clientSeconds: clientSeconds ?? RequestWaits.client
        )
        guard logger.logLevel <= .info else { return }
        if structuredAccessLog {
            var metadata: Logger.Metadata = [
                "method": .string(request.method), "path": .string(request.path), "status": .stringConvertible(status),
                "duration_ms": .stringConvertible((seconds * 1_000_000).rounded() / 1_000), "request_id": .string(request.id),
            ]
            if clientGone { metadata["client"] = "gone" }
            logger.info("request", metadata: metadata)
            return
        }
        // Formatted here rather than as metadata: one string, no dictionary, on every request.
        var line = "request method="
        line += request.method
        line += " path="
        line += LogValue.quotedIfNeeded(request.path)
        line += " status="
        line += String(status)
        line += " duration_ms="
        line += Self.milliseconds(seconds)
        line += " request_id="
        line += request.id
        if clientGone { line += " client=gone" }
        logger.info("\(line)")
    }

    private func assignID(to request: inout Request) {
        request.id = RequestID.sanitized(request.headers["x-request-id"]) ?? RequestID.generate()
    }

    /// `response` with the request's id in `X-Request-Id`, as every response carries it.
    public func stamped(_ response: Response, id: String) -> Response {
        var response = response
        response.headers.replaceOrAdd(name: "X-Request-Id", value: id)
        return response
    }

    /// `seconds` in milliseconds with three decimals, without Foundation's formatters.
    static func milliseconds(_ seconds: Double) -> String {
        let micros = Int((seconds * 1_000_000).rounded())
        let fraction = String(micros % 1000)
        return "\(micros / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
