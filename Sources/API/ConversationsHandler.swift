import Auth
import FoundationEssentials
import HTTP
import JSON
import Store
import Text

/// `GET /conversations`, `GET /conversation/{conversation_id}` and `DELETE /conversations`: the
/// caller's own conversations. Another token's conversation is answered exactly like one that
/// does not exist.
public struct ConversationsHandler: Sendable {
    let store: any ConversationStore
    let verifier: any TokenVerifier
    /// The limits of the settings a PATCH may make, with the model allow-list resolved.
    let limits: AskSettings

    /// The longest title made from a first prompt, in characters.
    static let titleLength = 60
    /// The most code points in a title made from a prompt: a family emoji takes up to 11.
    static let titleScalarLimit = 8 * titleLength

    public init(store: any ConversationStore, verifier: any TokenVerifier, limits: AskSettings = AskSettings()) {
        self.store = store
        self.verifier = verifier
        self.limits = limits
    }

    /// `?limit=` (1 to 100, default 20) and `?cursor=` (the `next_cursor` of the page before).
    public func list(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        var limit = 20
        if let text = try request.queryParameter("limit") {
            guard let value = Int(text), (1...100).contains(value) else {
                throw HTTPError.badRequest("limit must be a whole number from 1 to 100")
            }
            limit = value
        }
        let cursor = try request.queryParameter("cursor").map(Self.cursor(from:))
        // One more than asked: whether it exists says whether there is a next page.
        let page = try store.conversations(owner: token.id, limit: limit + 1, after: cursor)
        let shown = page.prefix(limit)
        let next: JSONValue = page.count > limit ? shown.last.map { .string(Self.token(for: $0.conversation)) } ?? .null : .null
        let body = JSONValue.object(["conversations": .array(shown.map(Self.summary)), "next_cursor": next])
        return .json(.ok, body.serialized)
    }

    /// `GET /conversation/{id}`: the conversation with a page of its messages, the newest
    /// `?limit=` (1 to 500, default 100) of those before `?cursor=` (the `next_cursor` of the
    /// page before), oldest first.
    public func read(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        guard let id = request.parameters["conversation_id"], ConversationID.isWellFormed(id) else {
            throw HTTPError.conversationNotFound
        }
        var limit = Self.messagePageDefault
        if let text = try request.queryParameter("limit") {
            guard let value = Int(text), (1...Self.messagePageLimit).contains(value) else {
                throw HTTPError.badRequest("limit must be a whole number from 1 to \(Self.messagePageLimit)")
            }
            limit = value
        }
        let before = try request.queryParameter("cursor").map { try Self.messageCursor(from: $0, conversationID: id) }
        return try detail(id: id, owner: token.id, limit: limit, before: before) { try store.conversationSummary(id: id, owner: token.id) }
    }

    /// `PATCH /conversation/{id}`: `{"title"?, "system"?, "model"?}`, each a string or null
    /// (which clears it), as JSON or a form (as `/ask` reads them); any other field is a 400,
    /// and a model outside the token's own list a 403.
    /// Answers with the conversation as `GET` does, with its first page of messages.
    public func update(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        guard let id = request.parameters["conversation_id"], ConversationID.isWellFormed(id) else {
            throw HTTPError.conversationNotFound
        }
        guard !request.body.isEmpty else { throw HTTPError.badRequest("the body is empty: send the fields to change") }
        let fields = try BodyFields(of: request).fields
        if let unknown = fields.keys.sorted().first(where: { !ConversationFields.names.contains($0) }) {
            throw HTTPError.badRequest("unknown field \(unknown); a conversation has title, system and model")
        }
        let change = try ConversationFields.settings(from: fields, limits: limits)
        // A model the token may not use is refused here, not at the conversation's next turn.
        if case .some(.some(let model)) = change.model { try TokenAdmission.checkModel(model, limits: token.limits) }
        return try detail(id: id, owner: token.id, limit: Self.messagePageDefault, before: nil) {
            guard try store.updateConversation(id: id, owner: token.id, change: change) != nil else { return nil }
            return try store.conversationSummary(id: id, owner: token.id)
        }
    }

    /// The most messages a page of a conversation holds, and how many it holds unless asked.
    static let messagePageLimit = 500
    static let messagePageDefault = 100
    /// The most bytes of message text (content and model, as stored in UTF-8) a page holds:
    /// a page ends before the message that would take it past this, unless that message is
    /// the page's only one. JSON escapes at most 6 bytes for each of them.
    static let messagePageBytes = 4 << 20

    /// The conversation `summary` reads (nil: 404) with a page of its messages and their previous versions.
    func detail(
        id: String, owner: String, limit: Int, before: Int?, summary: () throws -> ConversationSummary?
    ) throws -> Response {
        guard let found = try summary() else { throw HTTPError.conversationNotFound }
        let page = try store.messages(conversationID: id, newest: limit, before: before, maxBytes: Self.messagePageBytes)
        // Messages are numbered from 1 without gaps: a page that does not start at 1 has older ones.
        let next: JSONValue = page.first.flatMap { $0.sequence > 1 ? .string(Self.messageToken(for: $0, conversationID: id)) : nil } ?? .null
        let versions = try page.first.map { first in try store.previousVersions(conversationID: id, sequences: first.sequence...page.last!.sequence) } ?? [:]
        return .json(.ok, Self.detail(found, messages: page[...], versions: versions, next: next).serialized)
    }

    private static func detail(
        _ summary: ConversationSummary, messages: ArraySlice<StoredMessage>, versions: [Int: [MessageVersion]], next: JSONValue
    ) -> JSONValue {
        let conversation = summary.conversation
        return .object([
            "id": .string(conversation.id),
            "title": conversation.settings.title.map(JSONValue.string) ?? title(summary.firstPrompt),
            "model": (conversation.settings.model ?? summary.lastModel).map(JSONValue.string) ?? .null,
            "system": conversation.settings.system.map(JSONValue.string) ?? .null,
            "created_at": .string(RFC3339.format(conversation.createdAt)),
            "updated_at": .string(RFC3339.format(conversation.updatedAt)),
            "message_count": .integer(summary.messageCount),
            "messages": .array(messages.map { message($0, versions: versions[$0.sequence] ?? []) }),
            "next_cursor": next,
        ])
    }

    public func deleteAll(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        _ = try store.deleteAllConversations(owner: token.id)
        return Response(status: .noContent)
    }

    // MARK: JSON

    private static func summary(_ summary: ConversationSummary) -> JSONValue {
        .object([
            "id": .string(summary.conversation.id),
            "title": summary.conversation.settings.title.map(JSONValue.string) ?? title(summary.firstPrompt),
            "model": (summary.conversation.settings.model ?? summary.lastModel).map(JSONValue.string) ?? .null,
            "created_at": .string(RFC3339.format(summary.conversation.createdAt)),
            "updated_at": .string(RFC3339.format(summary.conversation.updatedAt)),
            "message_count": .integer(summary.messageCount),
        ])
    }

    /// A message; its `id` is its sequence number, which a regeneration keeps.
    private static func message(_ message: StoredMessage, versions: [MessageVersion]) -> JSONValue {
        .object([
            "id": .integer(message.sequence),
            "sequence": .integer(message.sequence),
            "role": .string(message.role.rawValue),
            "content": .string(message.content),
            "created_at": .string(RFC3339.format(message.createdAt)),
            "model": message.model.map(JSONValue.string) ?? .null,
            "usage": usage(message.usage),
            "previous_versions": .array(versions.map { version in
                .object([
                    "content": .string(version.content), "model": version.model.map(JSONValue.string) ?? .null,
                    "usage": usage(version.usage), "created_at": .string(RFC3339.format(version.createdAt)),
                ])
            }),
        ])
    }

    private static func usage(_ usage: TokenUsage?) -> JSONValue {
        usage.map { usage in
            .object([
                "prompt_tokens": .integer(usage.promptTokens), "completion_tokens": .integer(usage.completionTokens),
                "total_tokens": .integer(usage.totalTokens),
            ])
        } ?? .null
    }

    /// The first prompt's first line that is not blank, its whitespace collapsed, cut to
    /// `titleLength` characters with an ellipsis. It is cut on whole characters (an emoji or an
    /// accented letter is never split), and to at most `titleScalarLimit` code points: a
    /// character may carry any number of combining marks.
    static func title(_ prompt: String?) -> JSONValue {
        guard let prompt else { return .null }
        let line = prompt.split(whereSeparator: \.isNewline).first { !$0.allSatisfy(\.isWhitespace) } ?? ""
        let words = line.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        guard !words.isEmpty else { return .null }
        guard words.count > titleLength || words.unicodeScalars.count > titleScalarLimit else { return .string(words) }
        var cut = ""
        var scalars = 0
        for character in words.prefix(titleLength - 1) {
            scalars += character.unicodeScalars.count
            guard scalars < titleScalarLimit else { break }
            cut.append(character)
        }
        return .string(cut.trimmingWhitespace() + "…")
    }

    // MARK: Cursors

    /// `<milliseconds>.<id>`, base64url: opaque to clients, checked when it comes back.
    package static func token(for conversation: Conversation) -> String {
        Base64URL.encode(Array("\(conversation.createdAt.milliseconds).\(conversation.id)".utf8))
    }

    package static func cursor(from token: String) throws -> ConversationCursor {
        let malformed = HTTPError.badRequest("cursor is malformed: pass the next_cursor of the page before")
        guard token.utf8.count <= 200, let bytes = Base64URL.decode(token), let text = String(validating: bytes, as: UTF8.self),
            let dot = text.firstIndex(of: "."), let milliseconds = Int64(text[..<dot]),
            milliseconds >= 0, milliseconds <= Date.latestStored.milliseconds
        else { throw malformed }
        let id = String(text[text.index(after: dot)...])
        guard ConversationID.isWellFormed(id) else { throw malformed }
        return ConversationCursor(createdAt: Date(milliseconds: milliseconds), id: id)
    }

    /// `<sequence>.<conversation id>`, base64url, for the page that ends before `message`.
    static func messageToken(for message: StoredMessage, conversationID: String) -> String {
        Base64URL.encode(Array("\(message.sequence).\(conversationID)".utf8))
    }

    /// The sequence number a page starts before, from a cursor of this conversation's.
    static func messageCursor(from token: String, conversationID: String) throws -> Int {
        let malformed = HTTPError.badRequest("cursor is malformed: pass the next_cursor of the page before")
        // A sequence number fits in 31 bits in every store, and a next cursor is never 1: a
        // page before it would be empty.
        guard token.utf8.count <= 200, let bytes = Base64URL.decode(token), let text = String(validating: bytes, as: UTF8.self),
            let dot = text.firstIndex(of: "."), text[..<dot].utf8.allSatisfy({ (48...57).contains($0) }), let sequence = Int(text[..<dot]),
            (2...Int(Int32.max)).contains(sequence), text[text.index(after: dot)...] == conversationID
        else { throw malformed }
        return sequence
    }
}
