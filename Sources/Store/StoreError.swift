/// Why a store operation failed.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The conversation of a turn does not exist (or is not the caller's).
    case conversationNotFound(String)
    /// A unique value is taken, such as a token name or a new conversation's id.
    case duplicate(String)
    /// Another turn on the conversation held it for longer than the wait allowed.
    case turnLockTimedOut(String)
    /// The turn's lock was no longer its own when the turn was to be stored: nothing was.
    case turnLockLost(String)
    /// The database cannot be reached or used; the message says why (never a password).
    case unavailable(String)

    public var description: String {
        switch self {
        case .conversationNotFound(let id): "conversation \(id) not found"
        case .duplicate(let what): "\(what) already exists"
        case .turnLockTimedOut(let id): "timed out waiting for another turn on conversation \(id)"
        case .turnLockLost(let id): "the turn lock on conversation \(id) was taken over before the turn was stored"
        case .unavailable(let why): "store unavailable: \(why)"
        }
    }
}
