import HTTP
import Store

extension HTTPError {
    static let conversationNotFound = HTTPError(.notFound, "conversation not found")
}

extension StoreError: HTTPErrorConvertible {
    /// The client's view of a store failure; what the store said goes to the log.
    public var httpError: HTTPError {
        switch self {
        case .conversationNotFound: return .conversationNotFound
        case .turnLockTimedOut: return HTTPError(.conflict, "conversation is busy", headers: ["Retry-After": "1"])
        case .turnLockLost(let id):
            return HTTPError(
                .serviceUnavailable, "the turn could not be stored, as the store was unreachable meanwhile; nothing was stored, try again",
                headers: ["Retry-After": "5"], logDetail: "the turn lock on conversation \(id) was taken over before the turn was stored"
            )
        case .duplicate(let what):
            return HTTPError(.serviceUnavailable, "store unavailable", headers: ["Retry-After": "5"], logDetail: "the store refused a duplicate: \(what)")
        case .unavailable(let why):
            return HTTPError(.serviceUnavailable, "store unavailable", headers: ["Retry-After": "5"], logDetail: "the store is unavailable: \(why)")
        }
    }
}
