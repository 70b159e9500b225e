import Auth
import FoundationEssentials
import HTTP
import JSON
import Store
import Text

/// `POST /conversation/{id}/share`, `GET /shares` and `DELETE /share/{share_id}`: the caller's
/// share links. Another token's share or conversation is answered exactly like an unknown one.
public struct ShareHandler: Sendable {
    let store: any ConversationStore
    let verifier: any TokenVerifier
    let links: ShareLinks

    /// A share's lifetime when the request names none, and the longest it may ask for.
    static let defaultLifetime: Double = 30 * 86_400
    static let maxLifetime: Double = 365 * 86_400

    public init(store: any ConversationStore, verifier: any TokenVerifier, links: ShareLinks) {
        self.store = store
        self.verifier = verifier
        self.links = links
    }

    /// `{"expires_in": "7d"}` (a count and a unit, s, m, h, d or w, up to 365 days; null for a
    /// share that never expires), or no body for 30 days. Answers 201 with the share.
    public func create(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        guard let id = request.parameters["conversation_id"], ConversationID.isWellFormed(id) else {
            throw HTTPError.conversationNotFound
        }
        let fields = try BodyFields(of: request).fields
        if let unknown = fields.keys.sorted().first(where: { $0 != "expires_in" }) {
            throw HTTPError.badRequest("unknown field \(unknown); a share takes expires_in")
        }
        let now = Date(milliseconds: Date().milliseconds)
        let share = Share(
            id: ShareLinks.makeID(), owner: token.id, conversationID: id, createdAt: now,
            expiresAt: try Self.lifetime(fields["expires_in"]).map { now.addingTimeInterval($0) }
        )
        guard try store.createShare(share) else { throw HTTPError.conversationNotFound }
        return .json(.created, json(share, request: request).serialized, headers: ["Cache-Control": "no-store"])
    }

    /// `{"shares": [...]}`, newest first, expired ones included.
    public func list(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        let shares = try store.shares(owner: token.id)
        return .json(.ok, JSONValue.object(["shares": .array(shares.map { json($0, request: request) })]).serialized)
    }

    /// Revokes the share at once: 204, or 404 for one that is unknown or another token's.
    public func delete(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        guard let id = request.parameters["share_id"], ShareLinks.isWellFormed(id), try store.deleteShare(id: id, owner: token.id) else {
            throw HTTPError.shareNotFound
        }
        return Response(status: .noContent)
    }

    /// The lifetime in seconds that `expires_in` asks for; nil for a share that never expires.
    static func lifetime(_ value: JSONValue?) throws -> Double? {
        guard let value else { return defaultLifetime }
        if value == .null { return nil }
        guard let text = value.string, let seconds = Lifetime.seconds(text), seconds <= maxLifetime else {
            throw HTTPError.badRequest("expires_in must be a duration up to 365 days, such as 90m, 12h, 7d or 2w, or null for none")
        }
        return seconds
    }

    private func json(_ share: Share, request: Request) -> JSONValue {
        .object([
            "share_id": .string(share.id),
            "conversation_id": .string(share.conversationID),
            "url": .string(links.url(for: share.id, request: request)),
            "created_at": .string(RFC3339.format(share.createdAt)),
            "expires_at": share.expiresAt.map { .string(RFC3339.format($0)) } ?? .null,
        ])
    }
}

extension HTTPError {
    static let shareNotFound = HTTPError(.notFound, "share not found")
}
