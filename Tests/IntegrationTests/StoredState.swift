import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Everything a store holds that a turn writes, read by another program (Python's sqlite3 or
/// psql), not by askd, in one read transaction.
struct StoredState {
    struct Message {
        let sequence: Int
        let role: String
        let content: String
        let promptTokens: Int
        let completionTokens: Int
    }

    /// `PRAGMA integrity_check`'s answer for SQLite ("ok" when all is well); "ok" for PostgreSQL.
    let integrity: String
    let conversations: [String]
    /// Each conversation's messages in sequence order (conversations without any are absent).
    let messages: [String: [Message]]
    /// Each turn lock row: its conversation and when its lease runs out (Unix seconds).
    let locks: [(conversation: String, expiresAt: Double)]

    var assistantMessages: [Message] { messages.values.flatMap { $0.filter { $0.role == "assistant" } } }

    /// Where a store is and how to read it.
    enum Source {
        /// A SQLite file; with `namespaceOf`, read inside that process's mount namespace.
        case sqlite(path: String, namespaceOf: pid_t? = nil)
        case postgres(url: String)

        /// How long after askd's death a write it made can still land: a SQLite write is done
        /// when the call returns; a PostgreSQL statement askd sent just before it died still runs
        /// on the server, as late as the server gets to it (once more than 50 ms late in 60 kills
        /// on a loaded 2-core machine).
        var lateWriteSeconds: Double {
            switch self {
            case .sqlite: 0.05
            case .postgres: 0.5
            }
        }
    }

    static func read(_ source: Source) throws -> StoredState {
        let output: String
        switch source {
        case .sqlite(let path, let pid):
            let command = ["/usr/bin/python3", "-c", sqliteScript, path]
            let result = try pid.map { try Stack.run("/usr/bin/nsenter", ["-t", String($0), "-m"] + command, timeout: 30) }
                ?? Stack.run(command[0], Array(command.dropFirst()), timeout: 30)
            try #require(result.status == 0, "reading \(path) failed: \(result.stderr)")
            output = result.stdout
        case .postgres(let url):
            let result = try Stack.run("/usr/bin/psql", [url, "-v", "ON_ERROR_STOP=1", "-tAc", postgresQuery], timeout: 30)
            try #require(result.status == 0, "psql failed: \(result.stderr)")
            output = result.stdout
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output.prefix(500))")
        var messages: [String: [Message]] = [:]
        for row in json["messages"] as? [[Any]] ?? [] {
            let conversation = row[0] as? String ?? ""
            messages[conversation, default: []].append(Message(
                sequence: row[1] as? Int ?? -1, role: row[2] as? String ?? "", content: row[3] as? String ?? "",
                promptTokens: row[4] as? Int ?? 0, completionTokens: row[5] as? Int ?? 0
            ))
        }
        let locks = (json["locks"] as? [[Any]] ?? []).map { row in
            (conversation: row[0] as? String ?? "", expiresAt: Double(row[1] as? Int ?? 0) / 1000)
        }
        return StoredState(
            integrity: json["integrity"] as? String ?? "ok", conversations: json["conversations"] as? [String] ?? [],
            messages: messages, locks: locks
        )
    }

    private static let sqliteScript = """
        import json, sqlite3, sys
        db = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
        db.execute("BEGIN")
        out = {"integrity": "\\n".join(row[0] for row in db.execute("PRAGMA integrity_check"))}
        out["conversations"] = [row[0] for row in db.execute("SELECT id FROM conversations")]
        out["messages"] = db.execute(
            "SELECT conversation_id, seq, role, content, COALESCE(prompt_tokens, 0), COALESCE(completion_tokens, 0)"
            " FROM messages ORDER BY conversation_id, seq").fetchall()
        out["locks"] = db.execute("SELECT conversation_id, expires_at FROM turn_locks").fetchall()
        db.execute("COMMIT")
        print(json.dumps(out))
        """

    private static let postgresQuery = """
        SELECT json_build_object(
            'conversations', COALESCE((SELECT json_agg(id) FROM conversations), '[]'::json),
            'messages', COALESCE((SELECT json_agg(json_build_array(conversation_id, seq, role, convert_from(content, 'UTF8'),
                COALESCE(prompt_tokens, 0), COALESCE(completion_tokens, 0)) ORDER BY conversation_id, seq) FROM messages), '[]'::json),
            'locks', COALESCE((SELECT json_agg(json_build_array(conversation_id, expires_at)) FROM turn_locks), '[]'::json))
        """

    /// Every way the store breaks "all or nothing": a conversation without messages, sequence
    /// numbers other than 1...n, an odd count, roles out of turn, a prompt stored twice, or an
    /// answer that is not the one the fake upstream gives its prompt (a turn's answer stored
    /// with another turn's prompt).
    func halfStoredTurns() -> [String] {
        var problems: [String] = []
        var prompts = Set<String>()
        for conversation in conversations where messages[conversation] == nil {
            problems.append("conversation \(conversation) has no messages")
        }
        for (conversation, list) in messages {
            if list.map(\.sequence) != Array(1...list.count) { problems.append("\(conversation): sequence \(list.map(\.sequence))") }
            if list.count % 2 != 0 { problems.append("\(conversation): \(list.count) messages") }
            for (index, message) in list.enumerated() where message.role != (index % 2 == 0 ? "user" : "assistant") {
                problems.append("\(conversation): message \(message.sequence) is \(message.role)")
            }
            for pair in stride(from: 0, to: list.count - 1, by: 2) {
                let (prompt, answer) = (list[pair].content, list[pair + 1].content)
                if !prompts.insert(prompt).inserted { problems.append("\(conversation): prompt stored twice: \(prompt)") }
                if answer != FakeOpenAI.answer(to: prompt) { problems.append("\(conversation): \(prompt) -> \(answer)") }
            }
        }
        return problems
    }

    /// The received answers that are not stored as their turn: the prompt, then that answer.
    func missing(_ received: [Exchange]) -> [String] {
        var index: [String: [String: Int]] = [:]
        for (conversation, list) in messages {
            for (position, message) in list.enumerated() where message.role == "user" {
                index[conversation, default: [:]][message.content] = position
            }
        }
        return received.compactMap { exchange in
            guard let (id, text) = exchange.answered else { return nil }
            guard let position = index[id]?[exchange.prompt], let list = messages[id], position + 1 < list.count,
                list[position + 1].role == "assistant", list[position + 1].content == text
            else { return "\(id): \(exchange.prompt) -> \(text)" }
            return nil
        }
    }
}
