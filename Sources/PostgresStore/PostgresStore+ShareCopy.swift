import FoundationEssentials
import Store

extension PostgresStore {
    public func allShares() throws -> [Share] {
        try withConnection { db in
            try db.query("SELECT \(StoredColumns.share) FROM shares ORDER BY created_at, id COLLATE \"C\"", [], Share.init(row:))
        }
    }

    public func shareSnapshot(id: String) throws -> SharedConversation? {
        let rows = try withConnection { db in try db.query(StoredColumns.shareSnapshot(id: "$1"), [.text(id)], SharedRow.init(row:)) }
        return SharedRow.conversation(of: rows)
    }

    public func importShare(_ share: Share, snapshot: SharedConversation) throws {
        try withConnection { db in
            try db.transaction {
                let present = try db.query("SELECT 1 FROM conversations WHERE id = $1", [.text(share.conversationID)]) { _ in true }
                guard !present.isEmpty else { throw StoreError.conversationNotFound(share.conversationID) }
                _ = try db.execute("DELETE FROM shares WHERE id = $1", [.text(share.id)])
                _ = try db.execute(
                    "INSERT INTO shares (id, token_id, conversation_id, title, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    [.text(share.id), .text(share.owner), .text(share.conversationID), .text(snapshot.title.map(Self.storable)),
                     .date(snapshot.sharedAt), .date(share.expiresAt)]
                )
                for message in snapshot.messages {
                    _ = try db.execute(
                        "INSERT INTO share_messages (share_id, seq, role, content, created_at) VALUES ($1, $2, $3, $4, $5)",
                        [.text(share.id), .integer(message.sequence), .text(message.role.rawValue), .bytes(message.content), .date(message.createdAt)]
                    )
                }
            }
        }
    }
}
