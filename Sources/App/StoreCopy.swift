import Store

/// `askd store copy`: everything in one store (tokens, conversations, messages, the answers
/// regenerations replaced, and share links with their snapshots) into another,
/// such as a single host's SQLite file into the PostgreSQL database of several hosts.
///
/// Ids, owners, dates and sequence numbers are kept, and whatever the target already has under
/// the same id is replaced, so running it twice gives the same result. A target that already
/// holds anything is refused unless `force` is given. Afterwards every token and every
/// conversation, with its number of messages, is read back from the target and compared.
public enum StoreCopy {
    public struct Summary: Sendable, Equatable, CustomStringConvertible {
        public var tokens: Int
        public var conversations: Int
        public var messages: Int
        public var shares = 0

        public var description: String {
            "copied and verified \(tokens) tokens, \(conversations) conversations, \(messages) messages and \(shares) share\(shares == 1 ? "" : "s")"
        }
    }

    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    public static func copy(from source: any ConversationStore, to target: any ConversationStore, force: Bool) throws -> Summary {
        if !force {
            let tokens = try target.allTokens().count
            let conversations = try target.allConversations().count
            guard tokens == 0 && conversations == 0 else {
                throw Refusal(description: "the target already holds \(tokens) tokens and \(conversations) conversations; "
                    + "give --force to copy over them (what has the same id is replaced)")
            }
        }
        let tokens = try source.allTokens()
        for token in tokens { try target.importToken(token) }
        let conversations = try source.allConversations()
        var messages = 0
        for conversation in conversations {
            let history = try source.messages(conversationID: conversation.id)
            try target.importConversation(conversation, messages: history, versions: try Self.versions(of: conversation.id, count: history.count, in: source))
            messages += history.count
        }
        let shares = try source.allShares()
        for share in shares {
            guard let snapshot = try source.shareSnapshot(id: share.id) else { continue }
            try target.importShare(share, snapshot: snapshot)
        }
        try verify(tokens: tokens, conversations: conversations, from: source, in: target)
        try verify(shares: shares, from: source, in: target)
        return Summary(tokens: tokens.count, conversations: conversations.count, messages: messages, shares: shares.count)
    }

    private static func verify(tokens: [TokenRecord], conversations: [Conversation], from source: any ConversationStore, in target: any ConversationStore) throws {
        let copiedTokens = Dictionary(try target.allTokens().map { ($0.id, $0) }) { first, _ in first }
        for token in tokens where copiedTokens[token.id] != token {
            throw Refusal(description: "verification failed: token \(token.id) differs in the target")
        }
        for conversation in conversations {
            guard try target.conversation(id: conversation.id, owner: conversation.owner) == conversation else {
                throw Refusal(description: "verification failed: conversation \(conversation.id) differs in the target")
            }
            let expected = try source.messages(conversationID: conversation.id)
            guard try target.messages(conversationID: conversation.id) == expected else {
                throw Refusal(description: "verification failed: the messages of conversation \(conversation.id) differ in the target")
            }
            let versions = try Self.versions(of: conversation.id, count: expected.count, in: source)
            guard try Self.versions(of: conversation.id, count: expected.count, in: target) == versions else {
                throw Refusal(description: "verification failed: the previous versions in conversation \(conversation.id) differ in the target")
            }
        }
    }

    private static func verify(shares: [Share], from source: any ConversationStore, in target: any ConversationStore) throws {
        let copied = Dictionary(try target.allShares().map { ($0.id, $0) }) { first, _ in first }
        for share in shares {
            guard copied[share.id] == share, try target.shareSnapshot(id: share.id) == source.shareSnapshot(id: share.id) else {
                throw Refusal(description: "verification failed: share \(share.id) differs in the target")
            }
        }
    }

    /// Every previous version of the conversation's messages, by sequence number.
    private static func versions(of conversationID: String, count: Int, in store: any ConversationStore) throws -> [Int: [MessageVersion]] {
        guard count > 0 else { return [:] }
        return try store.previousVersions(conversationID: conversationID, sequences: 1...count)
    }
}
