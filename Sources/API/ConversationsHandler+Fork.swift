import FoundationEssentials
import HTTP
import JSON
import Store

extension ConversationsHandler {
    /// `POST /conversation/{id}/fork`: `{"message_id", "title"?}` makes a new conversation of the
    /// caller's, with the original's settings, holding copies of its messages up to and including
    /// that one (their dates and previous versions too); the original is unchanged. Without a
    /// title, the fork takes the original's (as shown) followed by " (fork)". Answers 201 with the
    /// new conversation as `GET` shows it; 404 for an unknown message, as for a conversation.
    public func fork(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        guard let id = request.parameters["conversation_id"], ConversationID.isWellFormed(id) else {
            throw HTTPError.conversationNotFound
        }
        let input = try ForkInput.parse(request, limits: limits)
        guard let original = try store.conversationSummary(id: id, owner: token.id) else { throw HTTPError.conversationNotFound }
        let fork = ConversationFork(
            conversationID: id, owner: token.id, through: input.messageID, newID: ConversationID.make(),
            title: input.title ?? Self.forkTitle(of: original), date: Date()
        )
        switch try store.forkConversation(fork) {
        case .conversationNotFound:
            throw HTTPError.conversationNotFound
        case .messageNotFound:
            throw HTTPError.notFound("message \(input.messageID) not found in this conversation")
        case .forked:
            var response = try detail(id: fork.newID, owner: token.id, limit: Self.messagePageDefault, before: nil) {
                try store.conversationSummary(id: fork.newID, owner: token.id)
            }
            response.status = .created
            return response
        }
    }

    /// The original's title as shown (its own, else its first prompt's), followed by " (fork)",
    /// within the longest title a conversation may have; nil when it shows none.
    static func forkTitle(of original: ConversationSummary) -> String? {
        guard let shown = original.conversation.settings.title ?? title(original.firstPrompt).string else { return nil }
        let mark = " (fork)"
        var cut = ""
        var scalars = mark.unicodeScalars.count
        // Whole characters, and no more code points than a title may hold.
        for character in shown {
            scalars += character.unicodeScalars.count
            guard scalars <= ConversationFields.maxTitleCharacters else { break }
            cut.append(character)
        }
        return cut + mark
    }
}
