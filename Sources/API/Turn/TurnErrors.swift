import HTTP
import Logging
import Store
import Upstream

extension TurnPipeline {
    /// The error as the client will see it (`HTTPErrorConvertible` maps it at the edge); the
    /// upstream's own words go to the log here, with their weight.
    func clientError(_ error: any Error, logger: Logger) -> any Error {
        if let error = error as? UpstreamError { logger.upstreamFailed(error) }
        return error
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
