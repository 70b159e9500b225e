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
        // 6: full-text search (`SQLiteStore+Search`). `messages` has no rowid, so each message
        // and each title gets one in `search_docs` (a title as sequence 0), with its owner and
        // date; `search_index` is an external-content FTS5 index over the view
        // `search_content`, which reads the text back from `messages` and `conversations`.
        // Triggers keep both exact in the transaction of every write to a message or a title,
        // whichever statement makes it (a cascade from a deleted conversation included); the
        // owner is an indexed column of its own, a single token, so that a search intersects
        // the owner's entries inside the index.
        """
        CREATE TABLE search_docs (
            id INTEGER PRIMARY KEY,
            conversation_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            owner TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            UNIQUE (conversation_id, seq)
        );
        CREATE VIEW search_content AS
            SELECT d.id AS id,
                CASE WHEN d.seq = 0 THEN (SELECT c.title FROM conversations c WHERE c.id = d.conversation_id)
                    ELSE (SELECT m.content FROM messages m WHERE m.conversation_id = d.conversation_id AND m.seq = d.seq) END AS body,
                'o' || hex(d.owner) AS owner
            FROM search_docs d;
        CREATE VIRTUAL TABLE search_index USING fts5(
            body, owner, content = 'search_content', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 0'
        );
        CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
            INSERT INTO search_docs (conversation_id, seq, owner, created_at)
                SELECT new.conversation_id, new.seq, c.token_id, new.created_at FROM conversations c WHERE c.id = new.conversation_id;
            INSERT INTO search_index (rowid, body, owner)
                SELECT d.id, new.content, 'o' || hex(d.owner) FROM search_docs d WHERE d.conversation_id = new.conversation_id AND d.seq = new.seq;
        END;
        CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
            INSERT INTO search_index (search_index, rowid, body, owner)
                SELECT 'delete', d.id, old.content, 'o' || hex(d.owner) FROM search_docs d WHERE d.conversation_id = old.conversation_id AND d.seq = old.seq;
            DELETE FROM search_docs WHERE conversation_id = old.conversation_id AND seq = old.seq;
        END;
        CREATE TRIGGER messages_search_update AFTER UPDATE OF conversation_id, seq, content ON messages BEGIN
            INSERT INTO search_index (search_index, rowid, body, owner)
                SELECT 'delete', d.id, old.content, 'o' || hex(d.owner) FROM search_docs d WHERE d.conversation_id = old.conversation_id AND d.seq = old.seq;
            DELETE FROM search_docs WHERE conversation_id = old.conversation_id AND seq = old.seq;
            INSERT INTO search_docs (conversation_id, seq, owner, created_at)
                SELECT new.conversation_id, new.seq, c.token_id, new.created_at FROM conversations c WHERE c.id = new.conversation_id;
            INSERT INTO search_index (rowid, body, owner)
                SELECT d.id, new.content, 'o' || hex(d.owner) FROM search_docs d WHERE d.conversation_id = new.conversation_id AND d.seq = new.seq;
        END;
        CREATE TRIGGER conversations_search_insert AFTER INSERT ON conversations WHEN new.title IS NOT NULL BEGIN
            INSERT INTO search_docs (conversation_id, seq, owner, created_at) VALUES (new.id, 0, new.token_id, new.created_at);
            INSERT INTO search_index (rowid, body, owner) VALUES (last_insert_rowid(), new.title, 'o' || hex(new.token_id));
        END;
        CREATE TRIGGER conversations_search_delete AFTER DELETE ON conversations WHEN old.title IS NOT NULL BEGIN
            INSERT INTO search_index (search_index, rowid, body, owner)
                SELECT 'delete', d.id, old.title, 'o' || hex(d.owner) FROM search_docs d WHERE d.conversation_id = old.id AND d.seq = 0;
            DELETE FROM search_docs WHERE conversation_id = old.id AND seq = 0;
        END;
        CREATE TRIGGER conversations_search_update AFTER UPDATE OF id, token_id, title, created_at ON conversations
        WHEN old.title IS NOT new.title OR old.id IS NOT new.id OR old.token_id IS NOT new.token_id OR old.created_at IS NOT new.created_at
        BEGIN
            INSERT INTO search_index (search_index, rowid, body, owner)
                SELECT 'delete', d.id, old.title, 'o' || hex(d.owner) FROM search_docs d
                WHERE old.title IS NOT NULL AND d.conversation_id = old.id AND d.seq = 0;
            DELETE FROM search_docs WHERE conversation_id = old.id AND seq = 0;
            INSERT INTO search_docs (conversation_id, seq, owner, created_at)
                SELECT new.id, 0, new.token_id, new.created_at WHERE new.title IS NOT NULL;
            INSERT INTO search_index (rowid, body, owner)
                SELECT d.id, new.title, 'o' || hex(d.owner) FROM search_docs d
                WHERE new.title IS NOT NULL AND d.conversation_id = new.id AND d.seq = 0;
        END;
        INSERT INTO search_docs (conversation_id, seq, owner, created_at)
            SELECT id, 0, token_id, created_at FROM conversations WHERE title IS NOT NULL;
        INSERT INTO search_docs (conversation_id, seq, owner, created_at)
            SELECT m.conversation_id, m.seq, c.token_id, m.created_at FROM messages m JOIN conversations c ON c.id = m.conversation_id;
        INSERT INTO search_index (search_index) VALUES ('rebuild');
        """,
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
