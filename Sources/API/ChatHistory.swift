import Store
import Upstream

/// What the model is sent: the system prompt, the history trimmed oldest first, the prompt.
enum ChatHistory {
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
