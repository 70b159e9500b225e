import FoundationEssentials
import Store

extension SQLiteStore {
    public func insertToken(_ token: TokenRecord) throws {
        defer { tokenGeneration.change() }
        try withConnection { db in
            try db.writeTransaction {
                let taken = try db.query("SELECT 1 FROM tokens WHERE name = ? OR id = ? OR hash = ?", [
                    .text(token.name), .text(token.id), .text(token.hash),
                ]) { _ in true }
                guard taken.isEmpty else { throw StoreError.duplicate("token \(token.name)") }
                try db.execute(
                    "INSERT INTO tokens (id, name, hash, created_at, last_used_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [.text(token.id), .text(token.name), .text(token.hash), .date(token.createdAt),
                     .date(token.lastUsedAt), .date(token.expiresAt), .date(token.revokedAt)]
                )
            }
        }
    }

    /// The row is read from the database only when a token changed since this process last
    /// read it (see `TokenGeneration`), or a second passed: the database changes with every
    /// turn, and a read transaction on it is one of the dearest parts of a request.
    public func token(hash: String) throws -> TokenRecord? {
        try tokenCache.record(hash: hash, generation: tokenGeneration.current(), read: readToken)
    }

    private func readToken(hash: String) throws -> TokenRecord? {
        try withConnection { db in
            try db.query("SELECT \(StoredColumns.token) FROM tokens WHERE hash = ?", [.text(hash)], TokenRecord.init(row:)).first
        }
    }

    public func allTokens() throws -> [TokenRecord] {
        try withConnection { db in
            try db.query("SELECT \(StoredColumns.token) FROM tokens ORDER BY created_at, rowid", [], TokenRecord.init(row:))
        }
    }

    public func revokeToken(idOrName: String, at date: Date) throws -> TokenRecord? {
        // Even when nothing changed: running it again repairs a change that a killed process
        // committed but could not announce.
        defer { tokenGeneration.change() }
        return try withConnection { db in
            try db.writeTransaction {
                let matches = try db.query(
                    "SELECT \(StoredColumns.token) FROM tokens WHERE id = ? OR name = ? ORDER BY id = ? DESC",
                    [.text(idOrName), .text(idOrName), .text(idOrName)], TokenRecord.init(row:)
                )
                guard var token = matches.first else { return nil }
                if token.revokedAt == nil {
                    try db.execute("UPDATE tokens SET revoked_at = ? WHERE id = ?", [.date(date), .text(token.id)])
                    token.revokedAt = Date(milliseconds: date.milliseconds)
                }
                return token
            }
        }
    }

    /// No change of the tokens' generation: the last use decides nothing, and every process's
    /// token cache would be emptied by each one.
    public func markTokenUsed(id: String, at date: Date) throws {
        try withConnection { db in
            try db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", [.date(date), .text(id)])
        }
    }
}
