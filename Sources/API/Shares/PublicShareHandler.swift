import FoundationEssentials
import HTTP
import JSON
import Store

/// `GET /s/{share_id}`: a shared conversation, for anyone with the link and without a token.
/// It shows the snapshot's title and messages (role, content, date), never the owner, the
/// conversation's id or its settings. A share that is unknown, revoked, expired or whose
/// token is revoked is the same 404.
public struct PublicShareHandler: Sendable {
    let store: any ConversationStore

    public init(store: any ConversationStore) {
        self.store = store
    }

    public func handle(_ request: Request) throws -> Response {
        guard let id = request.parameters["share_id"], ShareLinks.isWellFormed(id),
            let shared = try store.sharedConversation(id: id, at: Date())
        else { throw HTTPError.shareNotFound }
        let firstPrompt = shared.messages.first.flatMap { $0.sequence == 1 && $0.role == .user ? $0.content : nil }
        let body = JSONValue.object([
            "title": shared.title.map(JSONValue.string) ?? ConversationsHandler.title(firstPrompt),
            "shared_at": .string(RFC3339.format(shared.sharedAt)),
            "messages": .array(shared.messages.map { message in
                .object([
                    "role": .string(message.role.rawValue), "content": .string(message.content),
                    "created_at": .string(RFC3339.format(message.createdAt)),
                ])
            }),
        ])
        // Revocation is at once: no cache may keep it. Search engines need not list it.
        return .json(.ok, body.serialized, headers: ["Cache-Control": "no-store", "X-Robots-Tag": "noindex"])
    }
}
