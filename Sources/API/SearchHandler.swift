import Auth
import FoundationEssentials
import HTTP
import JSON
import Store
import Text

/// `GET /search?q=&limit=&cursor=`: the caller's messages and conversation titles that match
/// `q` (askd's query language, `SearchQuery`), most relevant first, newest first on ties.
public struct SearchHandler: Sendable {
    let store: any ConversationStore
    let verifier: any TokenVerifier

    public init(store: any ConversationStore, verifier: any TokenVerifier) {
        self.store = store
        self.verifier = verifier
    }

    /// `?limit=` (1 to 100, default 20) and `?cursor=` (the `next_cursor` of the page before).
    public func handle(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        guard let text = try request.queryParameter("q") else {
            throw HTTPError.badRequest("q is missing: pass the words to search for, such as ?q=invoice")
        }
        let query: SearchQuery
        do {
            query = try SearchQuery(parsing: text)
        } catch {
            throw HTTPError.badRequest(error.description)
        }
        var limit = 20
        if let text = try request.queryParameter("limit") {
            guard let value = Int(text), (1...100).contains(value) else {
                throw HTTPError.badRequest("limit must be a whole number from 1 to 100")
            }
            limit = value
        }
        let cursor = try request.queryParameter("cursor").map(Self.cursor(from:))
        // One more than asked: whether it exists says whether there is a next page.
        let page = try store.search(owner: token.id, query: query, limit: limit + 1, after: cursor)
        let shown = page.prefix(limit)
        let next: JSONValue = page.count > limit ? shown.last.map { .string(Self.token(for: $0.cursor)) } ?? .null : .null
        return .json(.ok, JSONValue.object(["results": .array(shown.map(Self.result)), "next_cursor": next]).serialized)
    }

    private static func result(_ hit: SearchHit) -> JSONValue {
        .object([
            "conversation_id": .string(hit.conversationID),
            "title": hit.title.map(JSONValue.string) ?? ConversationsHandler.title(hit.firstPrompt),
            "message_id": hit.sequence.map { .integer($0) } ?? .null,
            "role": hit.role.map { .string($0.rawValue) } ?? .null,
            "snippet": .string(hit.snippet),
            "created_at": .string(RFC3339.format(hit.createdAt)),
        ])
    }

    // MARK: Cursors

    /// `<score>.<milliseconds>.<sequence>.<conversation id>`, base64url: opaque to clients,
    /// checked when it comes back.
    static func token(for cursor: SearchCursor) -> String {
        Base64URL.encode(Array("\(cursor.score).\(cursor.createdAt.milliseconds).\(cursor.sequence).\(cursor.conversationID)".utf8))
    }

    static func cursor(from token: String) throws -> SearchCursor {
        let malformed = HTTPError.badRequest("cursor is malformed: pass the next_cursor of the page before, with the same q")
        guard token.utf8.count <= 200, let bytes = Base64URL.decode(token), let text = String(validating: bytes, as: UTF8.self) else {
            throw malformed
        }
        let parts = text.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0...2].allSatisfy({ $0.utf8.allSatisfy { (48...57).contains($0) || $0 == 45 } }),
            let score = Int64(parts[0]), let milliseconds = Int64(parts[1]), milliseconds >= 0,
            milliseconds <= Date.latestStored.milliseconds, let sequence = Int(parts[2]), (0...Int(Int32.max)).contains(sequence),
            ConversationID.isWellFormed(String(parts[3]))
        else { throw malformed }
        return SearchCursor(score: score, createdAt: Date(milliseconds: milliseconds), conversationID: String(parts[3]), sequence: sequence)
    }
}
