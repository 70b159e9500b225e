import FoundationEssentials

extension MemoryStore {
    public func allShares() throws -> [Share] {
        state.withLock { state in state.shares.values.map(\.share).sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
    }

    public func shareSnapshot(id: String) throws -> SharedConversation? {
        state.withLock { state in state.shares[id]?.snapshot }
    }

    public func importShare(_ share: Share, snapshot: SharedConversation) throws {
        try state.withLock { state in
            guard state.conversations[share.conversationID] != nil else { throw StoreError.conversationNotFound(share.conversationID) }
            state.shares[share.id] = (share, snapshot)
        }
    }
}
