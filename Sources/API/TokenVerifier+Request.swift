import Auth
import HTTP
import Store

extension TokenVerifier {
    /// The token of the request's caller; a store failure while checking it is a 503.
    func caller(of request: Request) throws -> TokenRecord {
        try verify(authorization: request.headers["Authorization"])
    }
}
