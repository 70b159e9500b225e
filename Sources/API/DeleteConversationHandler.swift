import Auth
import HTTP
import Store

/// `DELETE /conversation/{conversation_id}`: deletes the caller's conversation for good.
public struct DeleteConversationHandler: Sendable {
    let store: any ConversationStore
    let verifier: any TokenVerifier

    public init(store: any ConversationStore, verifier: any TokenVerifier) {
        self.store = store
        self.verifier = verifier
    }

    public func handle(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        guard let id = request.parameters["conversation_id"], ConversationID.isWellFormed(id) else {
            throw HTTPError.conversationNotFound
        }
        let deleted = try store.deleteConversation(id: id, owner: token.id)
        guard deleted else { throw HTTPError.conversationNotFound }
        return Response(status: .noContent)
    }
}
