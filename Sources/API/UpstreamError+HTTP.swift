import HTTP
import Upstream

extension UpstreamError: HTTPErrorConvertible {
    /// The client's view of an upstream failure; the pipeline logs the details.
    public var httpError: HTTPError {
        switch self {
        case .rateLimited(let retryAfter):
            var headers = HTTPHeaders()
            if let retryAfter { headers.add(name: "Retry-After", value: retryAfter) }
            return HTTPError(.tooManyRequests, "the model is rate-limited; try again later", headers: headers)
        case .rejectedCredentials:
            return HTTPError(.badGateway, "upstream rejected askd's credentials")
        case .timedOut:
            return HTTPError(.gatewayTimeout, "the model did not answer in time")
        case .failed:
            return HTTPError(.badGateway, "the model could not answer")
        }
    }
}
