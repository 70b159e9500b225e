import FoundationEssentials
import HTTP
import Store
import Synchronization

/// The `TokenVerifier` backed by the conversation store's token table.
///
/// The token is hashed before the lookup, so the time a lookup takes says nothing about how much
/// of a guess was right; the hash found is compared again in constant time. Every request reads
/// the store, so a revocation takes effect on the next request in every process. The last-use
/// time is written at most once a minute per token and process, not on every request.
public final class StoreTokenVerifier: TokenVerifier {
    private let store: any ConversationStore
    private let clock: @Sendable () -> Date
    private let lastRecordedUse = Mutex<[String: Date]>([:])
    private static let useRecordingInterval: TimeInterval = 60

    public init(store: any ConversationStore, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.clock = clock
    }

    public func verify(authorization: String?) throws -> TokenRecord {
        guard let token = Self.token(from: authorization) else { throw HTTPError.accessTokenRequired }
        let hash = TokenSecret.hash(token)
        guard let record = try store.token(hash: hash), TokenSecret.constantTimeEqual(record.hash, hash) else {
            throw HTTPError.invalidAccessToken
        }
        let now = clock()
        guard record.isValid(at: now) else { throw HTTPError.invalidAccessToken }
        recordUse(of: record, at: now)
        return record
    }

    /// The token in an `Authorization` value: after `Bearer ` (any case), or the whole value.
    static func token(from authorization: String?) -> String? {
        guard let value = authorization?.trimmingWhitespace(), !value.isEmpty, value.lowercased() != "bearer" else { return nil }
        if value.count > 7, value.prefix(7).lowercased() == "bearer " {
            let token = value.dropFirst(7).trimmingWhitespace()
            return token.isEmpty ? nil : token
        }
        return value
    }

    private func recordUse(of record: TokenRecord, at now: Date) {
        let due = lastRecordedUse.withLock { recorded -> Bool in
            if let last = recorded[record.id], now.timeIntervalSince(last) < Self.useRecordingInterval { return false }
            recorded[record.id] = now
            return true
        }
        // Best effort: a failed bookkeeping write must not fail the request.
        if due { try? store.markTokenUsed(id: record.id, at: now) }
    }
}
