import HTTP
import Logging
import Store
import Upstream

extension TurnPipeline {
    /// The error as the client will see it (`HTTPErrorConvertible` maps it at the edge); the
    /// upstream's own words go to the log here, with their weight.
    func clientError(_ error: any Error, logger: Logger) -> any Error {
        if let error = error as? UpstreamError { log(error, logger: logger) }
        return error
    }

    private func log(_ error: UpstreamError, logger: Logger) {
        switch error {
        case .rateLimited(let retryAfter):
            logger.warning("the upstream is rate-limiting askd (Retry-After: \(retryAfter ?? "none"))")
        case .rejectedCredentials(let detail):
            logger.critical("the upstream rejected askd's credentials: check OPENAI_API_KEY; \(detail)")
        case .timedOut(let detail), .failed(let detail):
            logger.error("the upstream failed: \(detail)")
        }
    }
}
