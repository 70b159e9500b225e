import Store
import Upstream

/// What the model is sent: the system prompt, the history trimmed oldest first, the prompt.
enum ChatHistory {
    /// The bytes of history to read from the store: enough for all that `messages` may keep
    /// (a code point takes at most 4 bytes of content, and a model name at most 800 bytes,
    /// which the store counts too), and no more, however long the stored answers are.
    static func maxBytes(_ settings: AskSettings) -> Int {
        let content = settings.maxHistoryCharacters.multipliedReportingOverflow(by: 4)
        let models = settings.maxHistoryMessages.multipliedReportingOverflow(by: 800)
        guard !content.overflow, !models.overflow else { return .max }
        let total = content.partialValue.addingReportingOverflow(models.partialValue)
        return total.overflow ? .max : total.partialValue
    }

    static func messages(system: String?, history: [StoredMessage], prompt: String, settings: AskSettings) -> [ChatMessage] {
        var kept: [StoredMessage] = []
        var characters = 0
        for message in history.reversed() {
            let length = message.content.unicodeScalars.count
            guard kept.count < settings.maxHistoryMessages, characters + length <= settings.maxHistoryCharacters else { break }
            kept.append(message)
            characters += length
        }
        kept.reverse()
        // Never start the history with an answer whose question was trimmed away.
        if kept.first?.role == .assistant { kept.removeFirst() }
        var messages: [ChatMessage] = []
        if let system, !system.isEmpty { messages.append(ChatMessage(role: "system", content: system)) }
        messages += kept.map { ChatMessage(role: $0.role.rawValue, content: $0.content) }
        messages.append(ChatMessage(role: "user", content: prompt))
        return messages
    }
}
