import FoundationEssentials
import HTTP
import JSON
import Store

/// A conversation as an export writes it: JSON with every field (one line of the JSON Lines
/// export), or Markdown for people. Dates have milliseconds, so that an import keeps them exactly.
enum ConversationExport {
    /// `{"id", "title", "system", "model", "created_at", "updated_at", "messages": [...]}`, with
    /// the conversation's own settings as stored (null where it has none), and each message's
    /// `id` (its sequence number), role, content, model, usage, date and previous versions
    /// (oldest first: the answers regenerations replaced).
    static func json(_ conversation: Conversation, messages: [StoredMessage], versions: [Int: [MessageVersion]]) -> JSONValue {
        .object([
            "id": .string(conversation.id),
            "title": conversation.settings.title.map(JSONValue.string) ?? .null,
            "system": conversation.settings.system.map(JSONValue.string) ?? .null,
            "model": conversation.settings.model.map(JSONValue.string) ?? .null,
            "created_at": .string(timestamp(conversation.createdAt)),
            "updated_at": .string(timestamp(conversation.updatedAt)),
            "messages": .array(messages.map { message($0, versions: versions[$0.sequence] ?? []) }),
        ])
    }

    private static func message(_ message: StoredMessage, versions: [MessageVersion]) -> JSONValue {
        .object([
            "id": .integer(message.sequence),
            "role": .string(message.role.rawValue),
            "content": .string(message.content),
            "model": message.model.map(JSONValue.string) ?? .null,
            "usage": usage(message.usage),
            "created_at": .string(timestamp(message.createdAt)),
            "previous_versions": .array(versions.map { version in
                .object([
                    "content": .string(version.content), "model": version.model.map(JSONValue.string) ?? .null,
                    "usage": usage(version.usage), "created_at": .string(timestamp(version.createdAt)),
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

    /// A heading with the title, the conversation's facts as a list, then each message under a
    /// heading of its own. Contents are Markdown already and go in as they are.
    static func markdown(_ conversation: Conversation, messages: [StoredMessage]) -> String {
        let firstPrompt = messages.first.flatMap { $0.sequence == 1 && $0.role == .user ? $0.content : nil }
        let title = conversation.settings.title ?? ConversationsHandler.title(firstPrompt).string ?? "Untitled conversation"
        var text = "# \(singleLine(title))\n\n"
        text += "- Conversation: `\(conversation.id)`\n"
        text += "- Created: \(RFC3339.format(conversation.createdAt))\n"
        text += "- Updated: \(RFC3339.format(conversation.updatedAt))\n"
        if let model = conversation.settings.model { text += "- Model: \(singleLine(model))\n" }
        if let system = conversation.settings.system {
            text += "\n**System prompt**\n\n" + system.split(separator: "\n", omittingEmptySubsequences: false).map { "> " + $0 }.joined(separator: "\n") + "\n"
        }
        for message in messages {
            let who = switch message.role {
            case .user: "User"
            case .assistant: "Assistant"
            case .system: "System"
            }
            let model = message.model.map { " (\(singleLine($0)))" } ?? ""
            text += "\n## \(who)\(model), \(RFC3339.format(message.createdAt))\n\n\(message.content)\n"
        }
        return text
    }

    /// `text` on one line, for a heading or a list item.
    private static func singleLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// RFC 3339 with milliseconds, the precision the stores keep.
    static func timestamp(_ date: Date) -> String {
        let milliseconds = date.milliseconds
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        return RFC3339.format(seconds: Int(seconds), milliseconds: Int(milliseconds - seconds * 1000))
    }
}
