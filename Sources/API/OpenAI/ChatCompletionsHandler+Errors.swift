import HTTP
import Logging
import Store
import Upstream

extension ChatCompletionsHandler {
    /// Upstream and store failures as the client sees them. A request the upstream refused as
    /// the client's own fault keeps its status and OpenAI's fields; any other upstream failure
    /// maps as it does for `/ask` (429, 502, 504), its detail going to the log only.
    func clientError(_ error: any Error, logger: Logger) -> any Error {
        switch error {
        case let rejection as UpstreamRejection:
            var fields: [String: String] = [:]
            fields["type"] = rejection.type
            fields["param"] = rejection.param
            fields["code"] = rejection.code
            return HTTPError(HTTPStatus(code: rejection.status), rejection.message, fields: fields)
        case let error as UpstreamError:
            logger.upstreamFailed(error)
            return error.httpError
        case let error as StoreError:
            return error.httpError
        default:
            return error
        }
    }
}
