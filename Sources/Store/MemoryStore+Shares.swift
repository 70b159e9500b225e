import FoundationEssentials

extension MemoryStore {
    public func createShare(_ share: Share) throws -> Bool {
        try state.withLock { state in
            guard let conversation = state.conversations[share.conversationID], conversation.owner == share.owner else { return false }
            guard state.shares[share.id] == nil else { throw StoreError.duplicate("share \(share.id)") }
            let messages = (state.messages[share.conversationID] ?? []).map { message in
                StoredMessage(sequence: message.sequence, role: message.role, content: message.content, createdAt: message.createdAt)
            }
            state.shares[share.id] = (share, SharedConversation(title: conversation.settings.title, sharedAt: share.createdAt, messages: messages))
            return true
        }
    }

    public func shares(owner: String) throws -> [Share] {
        state.withLock { state in
            state.shares.values.map(\.share).filter { $0.owner == owner }.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
        }
    }

    public func deleteShare(id: String, owner: String) throws -> Bool {
        state.withLock { state in
            guard state.shares[id]?.share.owner == owner else { return false }
            state.shares[id] = nil
            return true
        }
    }

    public func sharedConversation(id: String, at date: Date) throws -> SharedConversation? {
        state.withLock { state in
            guard let (share, snapshot) = state.shares[id], share.expiresAt.map({ date < $0 }) ?? true,
                state.tokens.first(where: { $0.id == share.owner })?.revokedAt == nil
            else { return nil }
            return snapshot
        }
    }

    public func insertConversations(_ conversations: [ImportedConversation]) throws {
        try state.withLock { state in
            var ids = Set<String>()
            for item in conversations where state.conversations[item.conversation.id] != nil || !ids.insert(item.conversation.id).inserted {
                throw StoreError.duplicate("conversation \(item.conversation.id)")
            }
            for item in conversations {
                state.conversations[item.conversation.id] = item.conversation
                state.messages[item.conversation.id] = item.messages
                state.versions[item.conversation.id] = item.versions.isEmpty ? nil : item.versions
            }
        }
    }
}
