import HTTP
import Store

/// Checks the access token of a request.
///
/// Contract: returns the caller's `TokenRecord` for a known, unrevoked, unexpired token, given as
/// `Authorization: Bearer <token>` or as the bare token (what the original clients send).
/// Otherwise it throws an `HTTPError` 401 with `WWW-Authenticate: Bearer`:
/// `access token is required` when the header is missing or empty, `invalid access token` for
/// anything else. It never logs the token.
public protocol TokenVerifier: Sendable {
    func verify(authorization: String?) throws -> TokenRecord
}

extension HTTPError {
    public static let accessTokenRequired = HTTPError(.unauthorized, "access token is required", headers: ["WWW-Authenticate": "Bearer"])
    public static let invalidAccessToken = HTTPError(.unauthorized, "invalid access token", headers: ["WWW-Authenticate": "Bearer"])
}
