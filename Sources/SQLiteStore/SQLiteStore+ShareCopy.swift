import FoundationEssentials
import Store

extension SQLiteStore {
    public func allShares() throws -> [Share] {
        try withConnection { db in
            try db.query("SELECT \(StoredColumns.share) FROM shares ORDER BY created_at, id", [], Share.init(row:))
        }
    }

    public func shareSnapshot(id: String) throws -> SharedConversation? {
        let rows = try withConnection { db in try db.query(StoredColumns.shareSnapshot(id: "?1"), [.text(id)], SharedRow.init(row:)) }
        return SharedRow.conversation(of: rows)
    }

    public func importShare(_ share: Share, snapshot: SharedConversation) throws {
        try withConnection { db in
            try db.writeTransaction {
                let present = try db.query("SELECT 1 FROM conversations WHERE id = ?", [.text(share.conversationID)]) { _ in true }
                guard !present.isEmpty else { throw StoreError.conversationNotFound(share.conversationID) }
                try db.execute("DELETE FROM shares WHERE id = ?", [.text(share.id)])
                try db.execute(
                    "INSERT INTO shares (id, token_id, conversation_id, title, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [.text(share.id), .text(share.owner), .text(share.conversationID), snapshot.title.map { .text($0) } ?? .null,
                     .date(snapshot.sharedAt), .date(share.expiresAt)]
                )
                for message in snapshot.messages {
                    try db.execute(
                        "INSERT INTO share_messages (share_id, seq, role, content, created_at) VALUES (?, ?, ?, ?, ?)",
                        [.text(share.id), .integer(Int64(message.sequence)), .text(message.role.rawValue), .text(message.content), .date(message.createdAt)]
                    )
                }
            }
        }
    }
}
