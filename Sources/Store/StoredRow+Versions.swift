import FoundationEssentials

extension StoredColumns {
    /// The columns `MessageVersion(row:)` reads, after the sequence number of the message it belongs to.
    package static let messageVersion = "seq, content, model, prompt_tokens, completion_tokens, total_tokens, created_at"
}

extension MessageVersion {
    /// A row of `StoredColumns.messageVersion`; its first column, the sequence number, is the caller's to read.
    package init(row: some StoredRow) {
        let usage = row.integer(3).map { prompt in
            TokenUsage(promptTokens: Int(prompt), completionTokens: Int(row.integer(4) ?? 0), totalTokens: Int(row.integer(5) ?? 0))
        }
        self.init(content: row.text(1) ?? "", model: row.text(2), usage: usage, createdAt: Date(milliseconds: row.integer(6) ?? 0))
    }
}

extension Dictionary where Key == Int, Value == [MessageVersion] {
    /// Rows of `StoredColumns.messageVersion`, in order of sequence number then version, grouped by message.
    package init(versionRows rows: [(sequence: Int, version: MessageVersion)]) {
        self.init()
        for row in rows { self[row.sequence, default: []].append(row.version) }
    }
}
