import FoundationEssentials
import HTTP
import JSON
import Store

/// One line of a JSON Lines import: a conversation as `ConversationExport.json` writes it. Its
/// messages are numbered anew, 1, 2, 3, ..., in the order they come; their `id`s, when given,
/// must rise. Unknown members are ignored, so that a newer export still imports.
struct ImportLine {
    /// The conversation's `id` in the export, when it had one.
    var sourceID: String?
    var conversation: Conversation
    var messages: [StoredMessage]
    /// The messages' `previous_versions`, by their new sequence numbers.
    var versions: [Int: [MessageVersion]]

    /// Why a line cannot be imported, as the 400 says it (after "line N: ").
    struct Problem: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// How deep a line may nest: a conversation, its messages, a message, its usage.
    static let maxDepth = 8

    /// The conversation on `bytes`, under the new `id` and `owner`; `now` stands in for dates
    /// a line leaves out.
    init(bytes: ArraySlice<UInt8>, id: String, owner: String, now: Date) throws(Problem) {
        guard String(validating: bytes, as: UTF8.self) != nil else { throw Problem("not valid UTF-8") }
        let value: JSONValue
        do {
            value = try JSONParser.parse(Array(bytes), maxDepth: Self.maxDepth)
        } catch .invalid(let offset) {
            throw Problem("not valid JSON (at byte \(offset + 1))")
        } catch {
            throw Problem("nested too deeply")
        }
        guard let fields = value.object else { throw Problem("expected a JSON object, not \(value.kind)") }
        sourceID = try Self.optionalString(fields, "id")
        let createdAt = try Self.date(fields, "created_at") ?? now
        let settings = ConversationSettings(
            title: try Self.optionalString(fields, "title"), system: try Self.optionalString(fields, "system"),
            model: try Self.optionalString(fields, "model")
        )
        conversation = Conversation(
            id: id, owner: owner, createdAt: createdAt, updatedAt: try Self.date(fields, "updated_at") ?? createdAt, settings: settings
        )
        guard let list = fields["messages"] else { throw Problem("messages is missing") }
        guard let elements = list.array else { throw Problem("messages must be an array, not \(list.kind)") }
        var messages: [StoredMessage] = []
        messages.reserveCapacity(elements.count)
        var versions: [Int: [MessageVersion]] = [:]
        var lastID: Int?
        for (index, element) in elements.enumerated() {
            let name = "messages[\(index)]"
            guard let message = element.object else { throw Problem("\(name) must be an object, not \(element.kind)") }
            if let given = message["id"], given != .null {
                guard let id = given.integer, id > (lastID ?? 0) else { throw Problem("\(name).id must be a whole number above the one before") }
                lastID = id
            }
            guard let roleValue = message["role"] else { throw Problem("\(name).role is missing") }
            guard let role = roleValue.string.flatMap(MessageRole.init(rawValue:)) else {
                throw Problem("\(name).role must be system, user or assistant")
            }
            guard let contentValue = message["content"] else { throw Problem("\(name).content is missing") }
            guard let content = contentValue.string else { throw Problem("\(name).content must be a string, not \(contentValue.kind)") }
            messages.append(StoredMessage(
                sequence: index + 1, role: role, content: content, model: try Self.optionalString(message, "model", in: name),
                usage: try Self.usage(message["usage"], in: name), createdAt: try Self.date(message, "created_at", in: name) ?? createdAt
            ))
            if let previous = try Self.previousVersions(message["previous_versions"], in: name, otherwise: createdAt), !previous.isEmpty {
                versions[index + 1] = previous
            }
        }
        self.messages = messages
        self.versions = versions
    }

    /// `[{"content", "model"?, "usage"?, "created_at"?}]`, oldest first; nil when absent or null.
    private static func previousVersions(_ value: JSONValue?, in object: String, otherwise fallback: Date) throws(Problem) -> [MessageVersion]? {
        guard let value, value != .null else { return nil }
        let name = "\(object).previous_versions"
        guard let elements = value.array else { throw Problem("\(name) must be an array or null, not \(value.kind)") }
        var versions: [MessageVersion] = []
        for (index, element) in elements.enumerated() {
            let item = "\(name)[\(index)]"
            guard let fields = element.object else { throw Problem("\(item) must be an object, not \(element.kind)") }
            guard let contentValue = fields["content"] else { throw Problem("\(item).content is missing") }
            guard let content = contentValue.string else { throw Problem("\(item).content must be a string, not \(contentValue.kind)") }
            versions.append(MessageVersion(
                content: content, model: try optionalString(fields, "model", in: item), usage: try usage(fields["usage"], in: item),
                createdAt: try date(fields, "created_at", in: item) ?? fallback
            ))
        }
        return versions
    }

    private static func optionalString(_ fields: [String: JSONValue], _ key: String, in object: String? = nil) throws(Problem) -> String? {
        guard let value = fields[key], value != .null else { return nil }
        guard let text = value.string else { throw Problem("\(path(object, key)) must be a string or null, not \(value.kind)") }
        return text
    }

    private static func date(_ fields: [String: JSONValue], _ key: String, in object: String? = nil) throws(Problem) -> Date? {
        guard let value = fields[key], value != .null else { return nil }
        guard let text = value.string, let date = RFC3339.parse(text) else {
            throw Problem("\(path(object, key)) must be an RFC 3339 date such as 2026-01-02T03:04:05.678Z")
        }
        return date
    }

    private static func usage(_ value: JSONValue?, in object: String) throws(Problem) -> TokenUsage? {
        guard let value, value != .null else { return nil }
        let name = "\(object).usage"
        guard let fields = value.object else { throw Problem("\(name) must be an object or null, not \(value.kind)") }
        func count(_ key: String) throws(Problem) -> Int {
            guard let number = fields[key]?.integer, number >= 0, number <= Int(Int32.max) else {
                throw Problem("\(name).\(key) must be a whole number from 0")
            }
            return number
        }
        return TokenUsage(promptTokens: try count("prompt_tokens"), completionTokens: try count("completion_tokens"), totalTokens: try count("total_tokens"))
    }

    private static func path(_ object: String?, _ key: String) -> String {
        object.map { "\($0).\(key)" } ?? key
    }
}
