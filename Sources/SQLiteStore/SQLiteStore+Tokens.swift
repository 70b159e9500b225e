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
                try db.execute("INSERT INTO tokens (\(StoredColumns.token)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", Self.values(token))
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

    public func updateToken(idOrName: String, change: TokenChange) throws -> TokenRecord? {
        defer { tokenGeneration.change() }
        return try withConnection { db in
            try db.writeTransaction {
                let matches = try db.query(
                    "SELECT \(StoredColumns.token) FROM tokens WHERE id = ? OR name = ? ORDER BY id = ? DESC",
                    [.text(idOrName), .text(idOrName), .text(idOrName)], TokenRecord.init(row:)
                )
                guard let token = matches.first else { return nil }
                let changed = change.applied(to: token)
                if changed.name != token.name {
                    let taken = try db.query("SELECT 1 FROM tokens WHERE name = ? AND id <> ?", [.text(changed.name), .text(token.id)]) { _ in true }
                    guard taken.isEmpty else { throw StoreError.duplicate("token \(changed.name)") }
                }
                try db.execute(
                    """
                    UPDATE tokens SET name = ?, expires_at = ?, rpm = ?, tpm = ?, tokens_per_day = ?, max_parallel = ?, models = ?
                    WHERE id = ?
                    """,
                    [.text(changed.name), .date(changed.expiresAt)] + Self.limitValues(changed.limits) + [.text(token.id)]
                )
                return changed
            }
        }
    }

    /// A token's columns in the order of `StoredColumns.token`.
    static func values(_ token: TokenRecord) -> [SQLiteConnection.Value] {
        [.text(token.id), .text(token.name), .text(token.hash), .date(token.createdAt),
         .date(token.lastUsedAt), .date(token.expiresAt), .date(token.revokedAt)] + limitValues(token.limits)
    }

    static func limitValues(_ limits: TokenLimits) -> [SQLiteConnection.Value] {
        [.integer(limits.requestsPerMinute), .integer(limits.tokensPerMinute), .integer(limits.tokensPerDay),
         .integer(limits.maxParallel), limits.storedModels.map(SQLiteConnection.Value.text) ?? .null]
    }

    /// No change of the tokens' generation: the last use decides nothing, and every process's
    /// token cache would be emptied by each one.
    public func markTokenUsed(id: String, at date: Date) throws {
        try withConnection { db in
            try db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", [.date(date), .text(id)])
        }
    }
}
