import HTTP
import Logging
import Store
import Upstream

extension TurnPipeline {
    /// Upstream and store failures as the client sees them; the upstream's own words go to the log.
    func clientError(_ error: any Error, logger: Logger) -> any Error {
        switch error {
        case let error as UpstreamError:
            logger.upstreamFailed(error)
            return HTTPError(upstream: error)
        case let error as StoreError:
            return HTTPError(store: error)
        default:
            return error
        }
    }
}

extension Logger {
    /// What the operator should know of an upstream failure, which the client sees only as a status.
    func upstreamFailed(_ error: UpstreamError) {
        switch error {
        case .rateLimited(let retryAfter):
            warning("the upstream is rate-limiting askd (Retry-After: \(retryAfter ?? "none"))")
        case .rejectedCredentials(let detail):
            critical("the upstream rejected askd's credentials: check OPENAI_API_KEY; \(detail)")
        case .timedOut(let detail), .failed(let detail):
            self.error("the upstream failed: \(detail)")
        }
    }
}

extension HTTPError {
    static let conversationNotFound = HTTPError(.notFound, "conversation not found")

    /// The client's view of an upstream failure; the details go to the log by the caller.
    init(upstream error: UpstreamError) {
        switch error {
        case .rateLimited(let retryAfter):
            var headers = HTTPHeaders()
            if let retryAfter { headers.add(name: "Retry-After", value: retryAfter) }
            self.init(.tooManyRequests, "the model is rate-limited; try again later", headers: headers)
        case .rejectedCredentials:
            self.init(.badGateway, "upstream rejected askd's credentials")
        case .timedOut:
            self.init(.gatewayTimeout, "the model did not answer in time")
        case .failed:
            self.init(.badGateway, "the model could not answer")
        }
    }

    init(store error: StoreError) {
        switch error {
        case .conversationNotFound: self = .conversationNotFound
        case .turnLockTimedOut: self.init(.conflict, "conversation is busy", headers: ["Retry-After": "1"])
        case .turnLockLost(let id):
            self.init(
                .serviceUnavailable, "the turn could not be stored, as the store was unreachable meanwhile; nothing was stored, try again",
                headers: ["Retry-After": "5"], logDetail: "the turn lock on conversation \(id) was taken over before the turn was stored"
            )
        case .duplicate(let what):
            self.init(.serviceUnavailable, "store unavailable", headers: ["Retry-After": "5"], logDetail: "the store refused a duplicate: \(what)")
        case .unavailable(let why):
            self.init(.serviceUnavailable, "store unavailable", headers: ["Retry-After": "5"], logDetail: "the store is unavailable: \(why)")
        }
    }
}
