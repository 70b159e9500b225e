import HTTP
import Store
import Upstream

extension TurnPipeline {
    /// Load history: the model's request is the system prompt, the conversation's newest
    /// messages (read under its turn lock, which the prepared turn then holds) and the prompt.
    /// The request's own model and system prompt come first, then the conversation's, then
    /// askd's defaults. On a failure the lock is given back.
    func prepare(_ turn: TurnContext, lock: TurnLock?) throws -> PreparedTurn {
        let input = turn.input
        guard let lock else {
            let request = chatRequest(input, after: [], kept: ConversationSettings())
            return PreparedTurn(conversationID: ConversationID.make(), startsConversation: true, request: request, lock: nil)
        }
        do {
            // Read again under the lock: the conversation may have been deleted or changed meanwhile.
            guard let conversation = try store.conversation(id: lock.conversationID, owner: turn.owner) else {
                throw HTTPError.conversationNotFound
            }
            // A model taken off ASKD_MODELS since the conversation kept it is refused as if named here.
            if input.settings.model == nil, let kept = conversation.settings.model {
                try ConversationFields.checkAllowed(kept, limits: settings, kept: true)
                // Changed since `admit` read it: the token's list applies to it as well.
                try TokenAdmission.checkModel(kept, limits: turn.limits)
            }
            if input.kind == .regenerate { return try regenerationTurn(turn, conversation, lock: lock) }
            // Only what the trim may keep: the newest messages, however long the conversation.
            let history = try store.messages(
                conversationID: lock.conversationID, newest: settings.maxHistoryMessages, before: nil,
                maxBytes: ChatHistory.maxBytes(settings)
            )
            let request = chatRequest(input, after: history, kept: conversation.settings)
            return PreparedTurn(conversationID: lock.conversationID, startsConversation: false, request: request, lock: lock)
        } catch {
            store.releaseTurnLock(lock)
            throw error
        }
    }

    func chatRequest(_ input: AskInput, after history: [StoredMessage], kept: ConversationSettings) -> ChatRequest {
        let system = input.settings.system ?? kept.system ?? settings.systemPrompt
        let messages = ChatHistory.messages(system: system, history: history, prompt: input.prompt, settings: settings)
        let model = input.settings.model ?? kept.model ?? upstream.defaultModel
        return ChatRequest(model: model, messages: messages, temperature: input.temperature, maxTokens: input.maxTokens)
    }
}
