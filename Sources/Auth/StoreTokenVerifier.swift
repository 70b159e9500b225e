import Dispatch
import FoundationEssentials
import HTTP
import Platform
import Store
import Text

/// The `TokenVerifier` backed by the conversation store's token table.
///
/// The token is hashed before the lookup, so the time a lookup takes says nothing about how much
/// of a guess was right; the hash found is compared again in constant time. Every request reads
/// the store, so a revocation takes effect on the next request in every process. The last-use
/// time is written at most once a minute per token and process, not on every request, and off
/// the request path: a store that is slow to write (a busy SQLite file waits up to its busy
/// timeout) delays no request for it.
public final class StoreTokenVerifier: TokenVerifier {
    private let store: any ConversationStore
    private let clock: @Sendable () -> Date
    private let lastRecordedUse = ReadWriteLocked<[String: Date]>([:])
    private static let useRecordingInterval: TimeInterval = 60
    /// Writes last-use times one after another, in the background.
    private let useRecorder = DispatchQueue(label: "askd.token-use")

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
        if let authorization, let token = asciiToken(from: authorization) { return token.isEmpty ? nil : token }
        guard let value = authorization?.trimmingWhitespace(), !value.isEmpty, value.lowercased() != "bearer" else { return nil }
        if value.count > 7, value.prefix(7).lowercased() == "bearer " {
            let token = value.dropFirst(7).trimmingWhitespace()
            return token.isEmpty ? nil : token
        }
        return value
    }

    /// `token(from:)` for a value of printable ASCII and spaces or tabs, the usual case, on
    /// its bytes; nil for anything else, which takes the general path ("" means no token).
    private static func asciiToken(from authorization: String) -> String? {
        let bytes = authorization.utf8
        guard bytes.allSatisfy({ (0x20...0x7E).contains($0) || $0 == 0x09 }) else { return nil }
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = bytes.lastIndex(where: { !isSpace($0) })!
        var value = bytes[first...last]
        let bearer = Array("bearer".utf8)
        let lowered = value.prefix(7).map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }
        if lowered == bearer { return "" }
        if value.count > 7, lowered.prefix(6).elementsEqual(bearer), lowered[6] == 0x20 {
            value = value.dropFirst(7)
            guard let start = value.firstIndex(where: { !isSpace($0) }) else { return "" }
            value = value[start...]
        }
        return String(Substring(value))
    }

    private func recordUse(of record: TokenRecord, at now: Date) {
        let recent = { (recorded: [String: Date]) in
            recorded[record.id].map { now.timeIntervalSince($0) < Self.useRecordingInterval } ?? false
        }
        if lastRecordedUse.read(recent) { return }
        let due = lastRecordedUse.write { recorded -> Bool in
            if recent(recorded) { return false }
            recorded[record.id] = now
            return true
        }
        // Best effort: a failed bookkeeping write must not fail, or hold, the request.
        guard due else { return }
        let store = store
        useRecorder.async { try? store.markTokenUsed(id: record.id, at: now) }
    }
}
