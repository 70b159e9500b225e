import HTTP
import JSON

/// What a `POST /conversation/{id}/fork` asks: `message_id`, the id (sequence number) of the
/// last message to copy, and an optional `title`, as JSON or a form.
struct ForkInput: Equatable {
    var messageID: Int
    /// The fork's title; nil: the original's, marked as a fork.
    var title: String?

    static let names: Set<String> = ["message_id", "title"]

    /// - Throws: `HTTPError` 400 naming the field, or 415 for a body type askd does not read.
    static func parse(_ request: Request, limits: AskSettings) throws -> ForkInput {
        let body = try BodyFields(of: request)
        let fields = body.fields
        if let unknown = fields.keys.sorted().first(where: { !names.contains($0) }) {
            throw HTTPError.badRequest("unknown field \(unknown); fork takes message_id and title")
        }
        let invalid = HTTPError.badRequest("message_id must be the id of a message: a whole number from 1")
        let messageID: Int
        switch fields["message_id"] {
        case nil, .null?: throw HTTPError.badRequest("message_id is required")
        case .number?: messageID = try fields["message_id"]?.integer ?? { throw invalid }()
        // A form sends it as text; a JSON body must send a number.
        case .string(let text)? where body.encoding == .form:
            guard !text.isEmpty, text.utf8.count <= 10, text.utf8.allSatisfy({ (48...57).contains($0) }), let number = Int(text) else { throw invalid }
            messageID = number
        case let other?: throw HTTPError.badRequest("message_id must be a whole number, not \(other.kind)")
        }
        guard (1...Int(Int32.max)).contains(messageID) else { throw invalid }
        let change = try ConversationFields.settings(from: fields["title"].map { ["title": $0] } ?? [:], limits: limits)
        return ForkInput(messageID: messageID, title: change.title ?? nil)
    }
}
