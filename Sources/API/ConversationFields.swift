import HTTP
import JSON
import Store

/// The conversation settings a body may carry (`title`, `system`, `model`), checked: strings or
/// null, within their limits, and a model from the allow-list.
enum ConversationFields {
    static let names: Set<String> = ["title", "system", "model"]
    static let maxTitleCharacters = 200

    /// The change `fields` asks for; absent fields change nothing, null clears.
    static func settings(from fields: [String: JSONValue], limits: AskSettings) throws -> ConversationSettingsChange {
        var change = ConversationSettingsChange()
        change.title = try text("title", in: fields, maxCharacters: maxTitleCharacters)
        change.system = try text("system", in: fields, maxCharacters: limits.maxPromptCharacters)
        change.model = try text("model", in: fields, maxCharacters: 200)
        if case .some(.some(let model)) = change.model { try checkAllowed(model, limits: limits) }
        return change
    }

    /// Refuses a model outside the allow-list, whether a request names it or a conversation kept it.
    static func checkAllowed(_ model: String, limits: AskSettings, kept: Bool = false) throws {
        guard let allowed = limits.models, !allowed.contains(model) else { return }
        let change = kept ? "; the conversation keeps it: PATCH its model, or name one in the request" : ""
        throw HTTPError.badRequest("model \(model) is not allowed; allowed: \(allowed.joined(separator: ", "))\(change)")
    }

    private static func text(_ name: String, in fields: [String: JSONValue], maxCharacters: Int) throws -> String?? {
        switch fields[name] {
        case nil: return nil
        case .null?: return .some(nil)
        case .string(let text)?:
            guard !text.allSatisfy(\.isWhitespace) else { return .some(nil) }
            guard text.unicodeScalars.count <= maxCharacters else { throw HTTPError.badRequest("\(name) is longer than \(maxCharacters) characters") }
            // PostgreSQL's text cannot hold it (SQLite can): refused alike on every store.
            guard !text.unicodeScalars.contains("\u{0}") else { throw HTTPError.badRequest("\(name) must not contain the character U+0000") }
            return .some(text)
        case let other?:
            throw HTTPError.badRequest("\(name) must be a string or null, not \(other.kind)")
        }
    }
}
