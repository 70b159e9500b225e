import FoundationEssentials
import Store

extension MeasuredStore {
    public func createShare(_ share: Share) throws -> Bool {
        try metrics.timing("create_share") { try base.createShare(share) }
    }

    public func shares(owner: String) throws -> [Share] {
        try metrics.timing("shares") { try base.shares(owner: owner) }
    }

    public func deleteShare(id: String, owner: String) throws -> Bool {
        try metrics.timing("delete_share") { try base.deleteShare(id: id, owner: owner) }
    }

    public func sharedConversation(id: String, at date: Date) throws -> SharedConversation? {
        try metrics.timing("shared_conversation") { try base.sharedConversation(id: id, at: date) }
    }

    public func allShares() throws -> [Share] {
        try metrics.timing("all_shares") { try base.allShares() }
    }

    public func shareSnapshot(id: String) throws -> SharedConversation? {
        try metrics.timing("share_snapshot") { try base.shareSnapshot(id: id) }
    }

    public func importShare(_ share: Share, snapshot: SharedConversation) throws {
        try metrics.timing("import_share") { try base.importShare(share, snapshot: snapshot) }
    }

    public func insertConversations(_ conversations: [ImportedConversation]) throws {
        try metrics.timing("insert_conversations") { try base.insertConversations(conversations) }
    }
}
