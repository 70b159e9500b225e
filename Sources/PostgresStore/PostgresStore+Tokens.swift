import FoundationEssentials
import Store

extension PostgresStore {
    public func insertToken(_ token: TokenRecord) throws {
        try withConnection { db in
            try Self.unique("token \(token.name)") {
                _ = try db.execute(
                    """
                    INSERT INTO tokens (\(StoredColumns.token))
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                    """,
                    Self.values(token)
                )
            }
            announceTokenChange(db)
        }
    }

    /// The row is read from the database only when a token changed since this process last
    /// read it (see `Notifications`), or a second passed: it saves a round trip, and the
    /// server's work, on every request.
    public func token(hash: String) throws -> TokenRecord? {
        try tokenCache.record(hash: hash, generation: notifications.current(), read: readToken)
    }

    private func readToken(hash: String) throws -> TokenRecord? {
        try withConnection { db in
            try db.query("SELECT \(StoredColumns.token) FROM tokens WHERE hash = $1", [.text(hash)], TokenRecord.init(row:)).first
        }
    }

    /// Tells every process that a token changed, after the change was committed, so that their
    /// `TokenCache`s read it again. If this fails, their copies still expire within a second.
    /// This process's own rows are dropped at once, without waiting for its notification.
    func announceTokenChange(_ db: PostgresConnection) {
        notifications.changedHere()
        _ = try? db.execute("NOTIFY \(Notifications.tokenChannel)")
    }

    public func allTokens() throws -> [TokenRecord] {
        try withConnection { db in
            try db.query("SELECT \(StoredColumns.token) FROM tokens ORDER BY created_at, position", [], TokenRecord.init(row:))
        }
    }

    public func revokeToken(idOrName: String, at date: Date) throws -> TokenRecord? {
        try withConnection { db in
            defer { announceTokenChange(db) }
            return try db.query(
                """
                UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2)
                WHERE id = (SELECT id FROM tokens WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC LIMIT 1)
                RETURNING \(StoredColumns.token)
                """,
                [.text(idOrName), .date(date)], TokenRecord.init(row:)
            ).first
        }
    }

    public func updateToken(idOrName: String, change: TokenChange) throws -> TokenRecord? {
        try withConnection { db in
            defer { announceTokenChange(db) }
            return try Self.unique("token \(change.name ?? idOrName)") {
                try db.transaction {
                    let matches = try db.query(
                        "SELECT \(StoredColumns.token) FROM tokens WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC LIMIT 1 FOR UPDATE",
                        [.text(idOrName)], TokenRecord.init(row:)
                    )
                    guard let token = matches.first else { return nil }
                    let changed = change.applied(to: token)
                    try db.execute(
                        """
                        UPDATE tokens SET name = $2, expires_at = $3, rpm = $4, tpm = $5, tokens_per_day = $6, max_parallel = $7,
                            models = $8
                        WHERE id = $1
                        """,
                        [.text(token.id), .text(changed.name), .date(changed.expiresAt)] + Self.limitValues(changed.limits)
                    )
                    return changed
                }
            }
        }
    }

    /// Announced to no one: the last use decides nothing, and every host's token cache would be
    /// emptied by each one.
    public func markTokenUsed(id: String, at date: Date) throws {
        _ = try withConnection { db in
            try db.execute("UPDATE tokens SET last_used_at = $1 WHERE id = $2", [.date(date), .text(id)])
        }
    }

    static func values(_ token: TokenRecord) -> [PostgresConnection.Value] {
        [
            .text(token.id), .text(token.name), .text(token.hash), .date(token.createdAt),
            .date(token.lastUsedAt), .date(token.expiresAt), .date(token.revokedAt),
        ] + limitValues(token.limits)
    }

    static func limitValues(_ limits: TokenLimits) -> [PostgresConnection.Value] {
        [.integer(limits.requestsPerMinute), .integer(limits.tokensPerMinute), .integer(limits.tokensPerDay),
         .integer(limits.maxParallel), .text(limits.storedModels)]
    }
}
