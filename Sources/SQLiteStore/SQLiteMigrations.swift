/// The schema, as forward-only steps. Step N takes `PRAGMA user_version` from N-1 to N.
/// Never edit a step that has shipped: add one.
enum SQLiteMigrations {
    static let steps: [String] = [
        // 1: tokens, conversations, messages, turn locks.
        """
        CREATE TABLE tokens (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            hash TEXT NOT NULL UNIQUE,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER,
            expires_at INTEGER,
            revoked_at INTEGER
        );
        CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            token_id TEXT NOT NULL REFERENCES tokens(id),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX conversations_by_token ON conversations(token_id, updated_at);
        CREATE TABLE messages (
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL,
            model TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            total_tokens INTEGER,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (conversation_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE turn_locks (
            conversation_id TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires_at INTEGER NOT NULL
        );
        """,
        // 2: usage per token and UTC day, kept when conversations are deleted.
        """
        CREATE TABLE usage_daily (
            token_id TEXT NOT NULL,
            day TEXT NOT NULL,
            requests INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            PRIMARY KEY (token_id, day)
        ) WITHOUT ROWID;
        """,
        // 3: a conversation's own title, system prompt and model.
        """
        ALTER TABLE conversations ADD COLUMN title TEXT;
        ALTER TABLE conversations ADD COLUMN system TEXT;
        ALTER TABLE conversations ADD COLUMN model TEXT;
        """,
        // 4: an owner's conversations in the order they are listed, newest first: a page reads
        // its own rows, where `conversations_by_token` made it sort every one of the owner's.
        // That index goes: nothing reads by `updated_at`, and every turn changed it.
        """
        CREATE INDEX conversations_by_creation ON conversations(token_id, created_at DESC, id DESC);
        DROP INDEX conversations_by_token;
        """,
        // 5: a token's limits, its per-minute window in buckets of a second, and its parallel
        // slots as leases (`RateWindow`, `SlotLeases`).
        """
        ALTER TABLE tokens ADD COLUMN rpm INTEGER;
        ALTER TABLE tokens ADD COLUMN tpm INTEGER;
        ALTER TABLE tokens ADD COLUMN tokens_per_day INTEGER;
        ALTER TABLE tokens ADD COLUMN max_parallel INTEGER;
        ALTER TABLE tokens ADD COLUMN models TEXT;
        CREATE TABLE rate_buckets (
            token_id TEXT NOT NULL,
            second INTEGER NOT NULL,
            requests INTEGER NOT NULL,
            tokens INTEGER NOT NULL,
            PRIMARY KEY (token_id, second)
        ) WITHOUT ROWID;
        CREATE TABLE parallel_slots (
            holder TEXT PRIMARY KEY,
            token_id TEXT NOT NULL,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX parallel_slots_by_token ON parallel_slots(token_id, expires_at);
        """,
        // The answers that regenerations replaced, by message, oldest version first; they go
        // with their conversation.
        """
        CREATE TABLE message_versions (
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            version INTEGER NOT NULL,
            content TEXT NOT NULL,
            model TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            total_tokens INTEGER,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (conversation_id, seq, version)
        ) WITHOUT ROWID;
        """,
        // Share links: a snapshot of a conversation's title and messages, which go with the
        // conversation when it is deleted.
        """
        CREATE TABLE shares (
            id TEXT PRIMARY KEY,
            token_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            title TEXT,
            created_at INTEGER NOT NULL,
            expires_at INTEGER
        );
        CREATE INDEX shares_by_token ON shares(token_id, created_at DESC, id DESC);
        CREATE INDEX shares_by_conversation ON shares(conversation_id);
        CREATE TABLE share_messages (
            share_id TEXT NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (share_id, seq)
        ) WITHOUT ROWID;
        """,
        // Full-text search (`SQLiteSearchSchema`).
        SQLiteSearchSchema.migration,
        // A parallel-slot lease may hold several slots (`AllowanceBroker`'s reservations).
        "ALTER TABLE parallel_slots ADD COLUMN slots INTEGER NOT NULL DEFAULT 1;",
        // A turn queues its text for search; a batch indexes it later (`SQLiteSearchSchema`).
        SQLiteSearchSchema.deferredIndexing,
    ]

    /// Applies the steps the database lacks, each in its own transaction. Safe when several
    /// processes start at once: the version is read again under the write lock.
    static func migrate(_ connection: SQLiteConnection) throws {
        for (index, step) in steps.enumerated() {
            let version = index + 1
            try connection.writeTransaction {
                let current = try connection.query("PRAGMA user_version", []) { $0.integer(0) ?? 0 }.first ?? 0
                guard current < version else { return }
                try connection.executeScript(step)
                try connection.execute("PRAGMA user_version = \(version)")
            }
        }
    }

    static var latestVersion: Int { steps.count }
}
