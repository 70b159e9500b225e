/// The schema, as forward-only steps; the same tables as SQLite's, with times in milliseconds
/// since 1970. Step N takes the version in `askd_schema` from N-1 to N.
/// Never edit a step that has shipped: add one.
enum PostgresMigrations {
    static let steps: [[String]] = [
        // 1: tokens, conversations, messages, turn locks.
        [
            """
            CREATE TABLE tokens (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                hash TEXT NOT NULL UNIQUE,
                created_at BIGINT NOT NULL,
                last_used_at BIGINT,
                expires_at BIGINT,
                revoked_at BIGINT,
                -- Insertion order, which lists tokens made in the same millisecond (SQLite's rowid).
                position BIGINT GENERATED ALWAYS AS IDENTITY
            )
            """,
            """
            CREATE TABLE conversations (
                id TEXT PRIMARY KEY,
                token_id TEXT NOT NULL REFERENCES tokens(id),
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX conversations_by_token ON conversations(token_id, updated_at)",
            """
            CREATE TABLE messages (
                conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
                -- UTF-8, as BYTEA because TEXT cannot hold NUL.
                content BYTEA NOT NULL,
                model TEXT,
                prompt_tokens INTEGER,
                completion_tokens INTEGER,
                total_tokens INTEGER,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (conversation_id, seq)
            )
            """,
            """
            CREATE TABLE turn_locks (
                conversation_id TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                expires_at BIGINT NOT NULL
            )
            """,
        ],
        // 2: usage per token and UTC day, kept when conversations are deleted.
        [
            """
            CREATE TABLE usage_daily (
                token_id TEXT NOT NULL,
                day TEXT NOT NULL,
                requests BIGINT NOT NULL,
                prompt_tokens BIGINT NOT NULL,
                completion_tokens BIGINT NOT NULL,
                PRIMARY KEY (token_id, day)
            )
            """,
        ],
        // 3: a conversation's own title, system prompt (BYTEA, like message content) and model.
        [
            "ALTER TABLE conversations ADD COLUMN title TEXT, ADD COLUMN system BYTEA, ADD COLUMN model TEXT",
        ],
        // 4: a token's usage for a day spread over up to `PostgresStore.usageShards` rows, which
        // readers sum: every turn of one token no longer waits for the one row's lock (held to
        // the previous turn's commit). Existing rows become shard 0.
        [
            "ALTER TABLE usage_daily ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0",
            "ALTER TABLE usage_daily DROP CONSTRAINT usage_daily_pkey",
            "ALTER TABLE usage_daily ADD PRIMARY KEY (token_id, day, shard)",
        ],
        // 5: an owner's conversations in the order they are listed, newest first (ids bytewise,
        // as the list compares them): a page reads its own rows, where `conversations_by_token`
        // made it sort every one of the owner's. That index goes: nothing reads by
        // `updated_at`, and every turn changed it.
        [
            "CREATE INDEX conversations_by_creation ON conversations (token_id, created_at DESC, id COLLATE \"C\" DESC)",
            "DROP INDEX conversations_by_token",
        ],
        // 6: a token's limits, its per-minute window in buckets of a second, its parallel slots
        // as leases, and `askd_admit`, which reads and counts them in one round trip.
        [
            """
            ALTER TABLE tokens ADD COLUMN rpm BIGINT, ADD COLUMN tpm BIGINT, ADD COLUMN tokens_per_day BIGINT,
                ADD COLUMN max_parallel BIGINT, ADD COLUMN models TEXT
            """,
            """
            CREATE TABLE rate_buckets (
                token_id TEXT NOT NULL,
                second BIGINT NOT NULL,
                requests BIGINT NOT NULL,
                tokens BIGINT NOT NULL,
                PRIMARY KEY (token_id, second)
            )
            """,
            """
            CREATE TABLE parallel_slots (
                holder TEXT PRIMARY KEY,
                token_id TEXT NOT NULL,
                expires_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX parallel_slots_by_token ON parallel_slots (token_id, expires_at)",
            PostgresStore.admitFunction,
        ],
        // The answers that regenerations replaced, by message, oldest version first (content as
        // BYTEA, like a message's); they go with their conversation.
        [
            """
            CREATE TABLE message_versions (
                conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                version INTEGER NOT NULL,
                content BYTEA NOT NULL,
                model TEXT,
                prompt_tokens INTEGER,
                completion_tokens INTEGER,
                total_tokens INTEGER,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (conversation_id, seq, version)
            )
            """,
        ],
        // Share links: a snapshot of a conversation's title and messages, which go with the
        // conversation when it is deleted.
        [
            """
            CREATE TABLE shares (
                id TEXT PRIMARY KEY,
                token_id TEXT NOT NULL,
                conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                title TEXT,
                created_at BIGINT NOT NULL,
                expires_at BIGINT
            )
            """,
            "CREATE INDEX shares_by_token ON shares (token_id, created_at DESC, id COLLATE \"C\" DESC)",
            "CREATE INDEX shares_by_conversation ON shares (conversation_id)",
            """
            CREATE TABLE share_messages (
                share_id TEXT NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                role TEXT NOT NULL,
                content BYTEA NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (share_id, seq)
            )
            """,
        ],
        // Full-text search (`PostgresStore+Search`): a tsvector per message and per title,
        // with its owner's lexeme,
        // each with a GIN index, written by triggers in the transaction of every write to the
        // text (an insert, an import, a title change, a message replaced in place), in the
        // configuration that `askd_search_language` holds (`PostgresStore.applySearchLanguage`).
        // The text searched is a message's first 250,000 characters, NULs as spaces, in lower
        // case: a tsvector holds at most 1 MiB of lexemes and TEXT no NUL.
        [
            """
            CREATE TABLE askd_search_language (
                single BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (single),
                language REGCONFIG NOT NULL
            )
            """,
            "INSERT INTO askd_search_language (language) VALUES ('simple')",
            // Lower case for every script, as SQLite's tokenizer folds it, whatever the
            // database's locale (in the C locale, `lower` folds ASCII only): through ICU's root
            // locale when the server has ICU.
            """
            DO $$ BEGIN
                IF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') THEN
                    CREATE FUNCTION askd_search_fold(value TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE STRICT
                        RETURN lower(value COLLATE "und-x-icu");
                ELSE
                    CREATE FUNCTION askd_search_fold(value TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE STRICT RETURN lower(value);
                END IF;
            END $$
            """,
            """
            CREATE FUNCTION askd_search_text(content BYTEA) RETURNS TEXT LANGUAGE plpgsql IMMUTABLE STRICT AS $$
            DECLARE
                cleaned BYTEA := content;
                nul INTEGER := position('\\x00'::BYTEA IN content);
            BEGIN
                WHILE nul > 0 LOOP
                    cleaned := overlay(cleaned PLACING '\\x20'::BYTEA FROM nul FOR 1);
                    nul := position('\\x00'::BYTEA IN cleaned);
                END LOOP;
                RETURN askd_search_fold(left(convert_from(cleaned, 'UTF8'), 250000));
            END
            $$
            """,
            // The owner's lexeme, in every tsvector and in every query, so that the GIN index
            // intersects the owner's entries with the query's. It holds a space, which no
            // configuration's parser leaves in a lexeme: no text can forge it.
            """
            CREATE FUNCTION askd_search_owner(token_id TEXT) RETURNS TSQUERY LANGUAGE sql IMMUTABLE STRICT
                RETURN format('%L', 'owner ' || md5(token_id))::TSQUERY
            """,
            """
            CREATE FUNCTION askd_search_owner_vector(token_id TEXT) RETURNS TSVECTOR LANGUAGE sql IMMUTABLE STRICT
                RETURN array_to_tsvector(ARRAY['owner ' || md5(token_id)])
            """,
            """
            CREATE FUNCTION askd_messages_search() RETURNS TRIGGER LANGUAGE plpgsql AS $$
            BEGIN
                NEW.search := to_tsvector((SELECT language FROM askd_search_language), askd_search_text(NEW.content))
                    || askd_search_owner_vector((SELECT token_id FROM conversations WHERE id = NEW.conversation_id));
                RETURN NEW;
            END
            $$
            """,
            """
            CREATE FUNCTION askd_conversations_search() RETURNS TRIGGER LANGUAGE plpgsql AS $$
            BEGIN
                NEW.title_search := CASE WHEN NEW.title IS NULL THEN NULL
                    ELSE to_tsvector((SELECT language FROM askd_search_language), askd_search_fold(left(NEW.title, 250000)))
                        || askd_search_owner_vector(NEW.token_id) END;
                RETURN NEW;
            END
            $$
            """,
            "ALTER TABLE messages ADD COLUMN search TSVECTOR",
            "ALTER TABLE conversations ADD COLUMN title_search TSVECTOR",
            "CREATE TRIGGER messages_search BEFORE INSERT OR UPDATE OF content ON messages FOR EACH ROW EXECUTE FUNCTION askd_messages_search()",
            """
            CREATE TRIGGER conversations_search BEFORE INSERT OR UPDATE OF title, token_id ON conversations
            FOR EACH ROW EXECUTE FUNCTION askd_conversations_search()
            """,
            "UPDATE messages SET content = content",
            "UPDATE conversations SET title = title WHERE title IS NOT NULL",
            "CREATE INDEX messages_search ON messages USING gin (search)",
            "CREATE INDEX conversations_title_search ON conversations USING gin (title_search)",
        ],
        // A parallel-slot lease may hold several slots, and `askd_admit` may admit several
        // requests at once (`AllowanceBroker`'s reservations).
        [
            "ALTER TABLE parallel_slots ADD COLUMN slots BIGINT NOT NULL DEFAULT 1",
            PostgresStore.admitFunction,
            PostgresStore.earlierAdmitFunction,
        ],
    ]

    /// The key of the transaction-level advisory lock that migrations hold: "askd" in ASCII.
    static let lockKey: Int64 = 0x6173_6B64

    /// Applies the steps the database lacks, each in its own transaction. Safe when several
    /// hosts start at once: each transaction first takes the advisory lock, then reads the
    /// version, so one host migrates and the others find the work done. A database that is up
    /// to date is only read, so a role without the right to create tables can use it.
    static func migrate(_ connection: PostgresConnection) throws {
        guard try currentVersion(connection) < latestVersion else { return }
        for (index, step) in steps.enumerated() {
            let version = index + 1
            try connection.transaction {
                try connection.execute("SELECT pg_advisory_xact_lock($1)", [.integer(lockKey)])
                // Not `currentVersion`: its `to_regclass` may still miss a table that another
                // host created while this one waited for the lock (a stale catalog cache).
                // Naming the table in a statement reads the catalog afresh.
                try connection.execute("CREATE TABLE IF NOT EXISTS askd_schema (version INTEGER PRIMARY KEY)")
                let current = try connection.query("SELECT COALESCE(MAX(version), 0) FROM askd_schema", []) {
                    Int($0.integer(0) ?? 0)
                }.first ?? 0
                guard current < version else { return }
                for statement in step { try connection.execute(statement) }
                try connection.execute("INSERT INTO askd_schema (version) VALUES ($1)", [.integer(Int64(version))])
            }
        }
    }

    /// The version of the database's schema: 0 before the first migration (or, in a transaction
    /// that began before another session created the schema, possibly still 0).
    static func currentVersion(_ connection: PostgresConnection) throws -> Int {
        let exists = try connection.query("SELECT to_regclass('askd_schema') IS NOT NULL", []) { $0.integer(0) == 1 }
        guard exists.first == true else { return 0 }
        return try connection.query("SELECT COALESCE(MAX(version), 0) FROM askd_schema", []) { Int($0.integer(0) ?? 0) }.first ?? 0
    }

    static var latestVersion: Int { steps.count }
}
