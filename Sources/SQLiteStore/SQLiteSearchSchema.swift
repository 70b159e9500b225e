/// The schema of full-text search on SQLite, as two migration steps (`SQLiteMigrations`); their
/// text must never change once shipped.
///
/// `messages` has no rowid, so each message, and each conversation's title (as sequence 0),
/// gets one in `search_docs`; `search_index` is an FTS5 index with external content, the view
/// `search_content`, which reads the text back from `messages` and `conversations`. A rowid is
/// the owner's number in `search_owners` times 2^36 plus the owner's count of entries so far:
/// each owner's entries form one range of rowids, which FTS5 seeks to and stays within, so a
/// search reads only its owner's part of the index and bm25 weighs only the query's phrases.
/// Triggers queue every write to a message or a title in `search_queue`, whichever statement
/// makes it: a turn, an import, a title change, a message replaced in place, a delete (a cascade
/// from a deleted conversation included). `SearchIndexer` indexes the queue in batches, each in
/// a transaction of its own, through the view `search_entries`: its triggers number each entry
/// in `search_docs` and queue its text in `search_pending`, and `flush`, which each batch runs
/// before its commit, hands that to FTS5 in one statement (FTS5 writes a segment of its index at
/// every statement otherwise). A search
/// first indexes what is queued, so it finds every change committed before it.
enum SQLiteSearchSchema {
    /// The bits of a rowid below the owner's number.
    static let ownerShift = 36

    static let migration = """
        CREATE TABLE search_owners (
            token_id TEXT PRIMARY KEY,
            number INTEGER NOT NULL UNIQUE,
            last INTEGER NOT NULL
        );
        CREATE TABLE search_docs (
            id INTEGER PRIMARY KEY,
            conversation_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            UNIQUE (conversation_id, seq)
        );
        CREATE VIEW search_content AS
            SELECT d.id AS id,
                CASE WHEN d.seq = 0 THEN (SELECT c.title FROM conversations c WHERE c.id = d.conversation_id)
                    ELSE (SELECT m.content FROM messages m WHERE m.conversation_id = d.conversation_id AND m.seq = d.seq) END AS body
            FROM search_docs d;
        CREATE TABLE search_pending (
            id INTEGER PRIMARY KEY,
            doc INTEGER NOT NULL,
            body TEXT,
            removal INTEGER NOT NULL
        );
        CREATE VIRTUAL TABLE search_index USING fts5(
            body, content = 'search_content', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 0'
        );
        CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
            \(add(conversation: "new.conversation_id", seq: "new.seq", createdAt: "new.created_at", text: "new.content"))
        END;
        CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
            \(remove(conversation: "old.conversation_id", seq: "old.seq", text: "old.content"))
        END;
        CREATE TRIGGER messages_search_update AFTER UPDATE OF conversation_id, seq, content, created_at ON messages BEGIN
            \(remove(conversation: "old.conversation_id", seq: "old.seq", text: "old.content"))
            \(add(conversation: "new.conversation_id", seq: "new.seq", createdAt: "new.created_at", text: "new.content"))
        END;
        CREATE TRIGGER conversations_search_insert AFTER INSERT ON conversations WHEN new.title IS NOT NULL BEGIN
            \(add(conversation: "new.id", seq: "0", createdAt: "new.created_at", text: "new.title"))
        END;
        CREATE TRIGGER conversations_search_delete AFTER DELETE ON conversations WHEN old.title IS NOT NULL BEGIN
            \(remove(conversation: "old.id", seq: "0", text: "old.title"))
        END;
        CREATE TRIGGER conversations_search_update AFTER UPDATE OF id, token_id, title, created_at ON conversations
        WHEN old.title IS NOT new.title OR old.id IS NOT new.id OR old.token_id IS NOT new.token_id OR old.created_at IS NOT new.created_at
        BEGIN
            \(remove(conversation: "old.id", seq: "0", text: "old.title"))
            \(add(conversation: "new.id", seq: "0", createdAt: "new.created_at", text: "new.title", when: "new.title IS NOT NULL"))
        END;
        INSERT INTO search_owners (token_id, number, last)
            SELECT token_id, ROW_NUMBER() OVER (ORDER BY token_id), 0 FROM (SELECT DISTINCT token_id FROM conversations);
        INSERT INTO search_docs (id, conversation_id, seq, created_at)
            SELECT (o.number << \(ownerShift)) | ROW_NUMBER() OVER (PARTITION BY e.token_id ORDER BY e.created_at, e.conversation_id, e.seq),
                e.conversation_id, e.seq, e.created_at
            FROM (
                SELECT id AS conversation_id, 0 AS seq, token_id, created_at FROM conversations WHERE title IS NOT NULL
                UNION ALL
                SELECT m.conversation_id, m.seq, c.token_id, m.created_at FROM messages m JOIN conversations c ON c.id = m.conversation_id
            ) e JOIN search_owners o ON o.token_id = e.token_id;
        UPDATE search_owners SET last = (
            SELECT COUNT(*) FROM search_docs WHERE id BETWEEN number << \(ownerShift) AND ((number + 1) << \(ownerShift)) - 1
        );
        INSERT INTO search_index (search_index) VALUES ('rebuild');
        """

    /// Takes the index's writes off the transactions that change messages and titles: their
    /// triggers only queue each change in `search_queue` (one row, text included), and a batch
    /// of queued changes is indexed later in a transaction of its own (`SearchIndexer`), through
    /// the view `search_entries`, whose triggers are the ones the first step put on the tables.
    /// A stored turn then writes one queue row per message instead of five tables and an FTS5
    /// segment (BENCHMARKS.md says what that saves). Queued changes are indexed in
    /// the order they were made, each with the text it had, so the index ends as exact as before;
    /// a search indexes what is queued before it reads.
    static let deferredIndexing = """
        CREATE TABLE search_queue (
            id INTEGER PRIMARY KEY,
            conversation_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            created_at INTEGER,
            body TEXT,
            removal INTEGER NOT NULL
        );
        CREATE VIEW search_entries AS SELECT conversation_id, seq, created_at, body, removal FROM search_queue;
        CREATE TRIGGER search_entries_add INSTEAD OF INSERT ON search_entries WHEN new.removal = 0 BEGIN
            \(add(conversation: "new.conversation_id", seq: "new.seq", createdAt: "new.created_at", text: "new.body"))
        END;
        CREATE TRIGGER search_entries_remove INSTEAD OF INSERT ON search_entries WHEN new.removal = 1 BEGIN
            \(remove(conversation: "new.conversation_id", seq: "new.seq", text: "new.body"))
        END;
        DROP TRIGGER messages_search_insert;
        DROP TRIGGER messages_search_delete;
        DROP TRIGGER messages_search_update;
        DROP TRIGGER conversations_search_insert;
        DROP TRIGGER conversations_search_delete;
        DROP TRIGGER conversations_search_update;
        CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
            \(queue(conversation: "new.conversation_id", seq: "new.seq", createdAt: "new.created_at", text: "new.content"))
        END;
        CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
            \(queueRemoval(conversation: "old.conversation_id", seq: "old.seq", text: "old.content"))
        END;
        CREATE TRIGGER messages_search_update AFTER UPDATE OF conversation_id, seq, content, created_at ON messages BEGIN
            \(queueRemoval(conversation: "old.conversation_id", seq: "old.seq", text: "old.content"))
            \(queue(conversation: "new.conversation_id", seq: "new.seq", createdAt: "new.created_at", text: "new.content"))
        END;
        CREATE TRIGGER conversations_search_insert AFTER INSERT ON conversations WHEN new.title IS NOT NULL BEGIN
            \(queue(conversation: "new.id", seq: "0", createdAt: "new.created_at", text: "new.title"))
        END;
        CREATE TRIGGER conversations_search_delete AFTER DELETE ON conversations WHEN old.title IS NOT NULL BEGIN
            \(queueRemoval(conversation: "old.id", seq: "0", text: "old.title"))
        END;
        CREATE TRIGGER conversations_search_update AFTER UPDATE OF id, token_id, title, created_at ON conversations
        WHEN old.title IS NOT new.title OR old.id IS NOT new.id OR old.token_id IS NOT new.token_id OR old.created_at IS NOT new.created_at
        BEGIN
            \(queueRemoval(conversation: "old.id", seq: "0", text: "old.title"))
            \(queue(conversation: "new.id", seq: "0", createdAt: "new.created_at", text: "new.title", when: "new.title IS NOT NULL"))
        END;
        """

    /// A trigger's statement that queues `text` to be indexed as entry `seq` of `conversation`.
    private static func queue(conversation: String, seq: String, createdAt: String, text: String, when: String = "TRUE") -> String {
        """
        INSERT INTO search_queue (conversation_id, seq, created_at, body, removal)
                SELECT \(conversation), \(seq), \(createdAt), \(text), 0 WHERE \(when);
        """
    }

    /// A trigger's statement that queues the removal of entry `seq` of `conversation`, which
    /// holds `text`.
    private static func queueRemoval(conversation: String, seq: String, text: String) -> String {
        """
        INSERT INTO search_queue (conversation_id, seq, created_at, body, removal)
                VALUES (\(conversation), \(seq), NULL, \(text), 1);
        """
    }

    /// Whether changes wait in the queue.
    static let hasQueued = "SELECT 1 FROM search_queue LIMIT 1"
    /// The last queued change.
    static let lastQueued = "SELECT MAX(id) FROM search_queue"
    /// The last of the first `?1` queued changes up to `?2`.
    static let batchEnd = "SELECT MAX(id) FROM (SELECT id FROM search_queue WHERE id <= ?2 ORDER BY id LIMIT ?1)"
    /// Indexes the queued changes up to `?1`, in order (`search_entries`' triggers number each
    /// entry and put it in `search_pending`, which the transaction hands to FTS5), and takes
    /// them off the queue.
    static let indexBatch = [
        """
        INSERT INTO search_entries (conversation_id, seq, created_at, body, removal)
            SELECT conversation_id, seq, created_at, body, removal FROM search_queue WHERE id <= ?1 ORDER BY id
        """,
        "DELETE FROM search_queue WHERE id <= ?1",
    ]

    /// A trigger's statements that index `text` as entry `seq` of `conversation`, under the
    /// owner's next rowid (numbering an owner seen for the first time).
    /// Nothing is done unless `when` holds.
    private static func add(conversation: String, seq: String, createdAt: String, text: String, when: String = "TRUE") -> String {
        """
        INSERT INTO search_owners (token_id, number, last)
                SELECT c.token_id, (SELECT COALESCE(MAX(number), 0) + 1 FROM search_owners), 0 FROM conversations c
                WHERE \(when) AND c.id = \(conversation) AND NOT EXISTS (SELECT 1 FROM search_owners o WHERE o.token_id = c.token_id);
            UPDATE search_owners SET last = last + 1
                WHERE \(when) AND token_id = (SELECT token_id FROM conversations WHERE id = \(conversation));
            INSERT INTO search_docs (id, conversation_id, seq, created_at)
                SELECT (o.number << \(ownerShift)) | o.last, \(conversation), \(seq), \(createdAt)
                FROM conversations c JOIN search_owners o ON o.token_id = c.token_id WHERE \(when) AND c.id = \(conversation);
            INSERT INTO search_pending (doc, body, removal)
                SELECT d.id, \(text), 0 FROM search_docs d WHERE \(when) AND d.conversation_id = \(conversation) AND d.seq = \(seq);
        """
    }

    /// A trigger's statements that take entry `seq` of `conversation`, which indexed `text`, out.
    private static func remove(conversation: String, seq: String, text: String) -> String {
        """
        INSERT INTO search_pending (doc, body, removal)
                SELECT d.id, \(text), 1 FROM search_docs d WHERE d.conversation_id = \(conversation) AND d.seq = \(seq);
            DELETE FROM search_docs WHERE conversation_id = \(conversation) AND seq = \(seq);
        """
    }

    /// Whether a transaction has queued entries for the index.
    static let hasPending = "SELECT 1 FROM search_pending LIMIT 1"

    /// Hands the queued entries to FTS5 in the order they were queued (a removal carries the
    /// text that was indexed, as an external-content index needs), then empties the queue.
    static let flush = [
        """
        INSERT INTO search_index (search_index, rowid, body)
            SELECT CASE removal WHEN 1 THEN 'delete' END, doc, body FROM search_pending ORDER BY id
        """,
        "DELETE FROM search_pending",
    ]
}
