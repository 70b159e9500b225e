import FoundationEssentials
import Platform
import Store

/// A `ConversationStore` that times the operations of the store it wraps (`StoreMetrics`), all
/// but `token(hash:)`: every request makes one, and the stores answer it from an in-process
/// cache (`TokenCache`) nearly always, so it would time a memory read on the request path. (Timed,
/// it also made the two-host revocation test, which asks the moment a token is revoked in
/// another process, lose its race with the revocation's NOTIFY in 3 runs of 4.)
public struct MeasuredStore: ConversationStore {
    public let base: any ConversationStore
    let metrics: StoreMetrics

    public init(_ base: any ConversationStore, metrics: StoreMetrics) {
        self.base = base
        self.metrics = metrics
    }

    public func insertToken(_ token: TokenRecord) throws {
        try metrics.timing("insert_token") { try base.insertToken(token) }
    }

    public func token(hash: String) throws -> TokenRecord? {
        try base.token(hash: hash)
    }

    public func allTokens() throws -> [TokenRecord] {
        try metrics.timing("all_tokens") { try base.allTokens() }
    }

    public func revokeToken(idOrName: String, at date: Date) throws -> TokenRecord? {
        try metrics.timing("revoke_token") { try base.revokeToken(idOrName: idOrName, at: date) }
    }

    public func updateToken(idOrName: String, change: TokenChange) throws -> TokenRecord? {
        try metrics.timing("update_token") { try base.updateToken(idOrName: idOrName, change: change) }
    }

    public func admit(tokenID: String, limits: TokenLimits, at date: Date, wanted: Int) throws -> Admission {
        try metrics.timing("admit") { try base.admit(tokenID: tokenID, limits: limits, at: date, wanted: wanted) }
    }

    public func settle(_ settlements: [Settlement], at date: Date) throws {
        try metrics.timing("settle_reservations") { try base.settle(settlements, at: date) }
    }

    public func finishAdmission(_ ticket: AdmissionTicket, tokens: Int, counted: Bool, at date: Date) {
        metrics.timing("finish_admission") { base.finishAdmission(ticket, tokens: tokens, counted: counted, at: date) }
    }

    public func limitReadings(tokenID: String, limits: TokenLimits, at date: Date) throws -> LimitReadings {
        try metrics.timing("limit_readings") { try base.limitReadings(tokenID: tokenID, limits: limits, at: date) }
    }

    public func markTokenUsed(id: String, at date: Date) throws {
        try metrics.timing("mark_token_used") { try base.markTokenUsed(id: id, at: date) }
    }

    public func conversation(id: String, owner: String) throws -> Conversation? {
        try metrics.timing("conversation") { try base.conversation(id: id, owner: owner) }
    }

    public func messages(conversationID: String) throws -> [StoredMessage] {
        try metrics.timing("messages") { try base.messages(conversationID: conversationID) }
    }

    public func messages(conversationID: String, newest limit: Int, before sequence: Int?, maxBytes: Int) throws -> [StoredMessage] {
        try metrics.timing("messages") {
            try base.messages(conversationID: conversationID, newest: limit, before: sequence, maxBytes: maxBytes)
        }
    }

    public func conversationSummary(id: String, owner: String) throws -> ConversationSummary? {
        try metrics.timing("conversation_summary") { try base.conversationSummary(id: id, owner: owner) }
    }

    public func commitTurn(_ turn: Turn) throws {
        try metrics.timing("commit_turn") { try base.commitTurn(turn) }
    }

    public func commitTurn(_ turn: Turn, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        let started = MonotonicClock.now()
        let metrics = metrics
        base.commitTurn(turn) { result in
            let error = if case .failure(let error) = result { StoreMetrics.errorType(error) } else { "" }
            metrics.record("commit_turn", error: error, seconds: MonotonicClock.now() - started)
            completion(result)
        }
    }

    public func forkConversation(_ fork: ConversationFork) throws -> ForkOutcome {
        try metrics.timing("fork_conversation") { try base.forkConversation(fork) }
    }

    public func replaceLastAnswer(_ regeneration: Regeneration) throws {
        try metrics.timing("replace_last_answer") { try base.replaceLastAnswer(regeneration) }
    }

    public func previousVersions(conversationID: String, sequences: ClosedRange<Int>) throws -> [Int: [MessageVersion]] {
        try metrics.timing("previous_versions") { try base.previousVersions(conversationID: conversationID, sequences: sequences) }
    }

    public func updateConversation(id: String, owner: String, change: ConversationSettingsChange) throws -> Conversation? {
        try metrics.timing("update_conversation") { try base.updateConversation(id: id, owner: owner, change: change) }
    }

    public func deleteConversation(id: String, owner: String) throws -> Bool {
        try metrics.timing("delete_conversation") { try base.deleteConversation(id: id, owner: owner) }
    }

    /// Timed from the call to the lock (or the refusal): a wait in line counts.
    public func acquireTurnLock(
        conversationID: String, timeout: Double, then completion: @escaping @Sendable (Result<TurnLock, any Error>) -> Void
    ) {
        let started = MonotonicClock.now()
        let metrics = metrics
        base.acquireTurnLock(conversationID: conversationID, timeout: timeout) { result in
            let error = if case .failure(let error) = result { StoreMetrics.errorType(error) } else { "" }
            metrics.record("acquire_turn_lock", error: error, seconds: MonotonicClock.now() - started)
            completion(result)
        }
    }

    public func releaseTurnLock(_ lock: TurnLock) {
        metrics.timing("release_turn_lock") { base.releaseTurnLock(lock) }
    }

    public func conversations(owner: String, limit: Int, after cursor: ConversationCursor?) throws -> [ConversationSummary] {
        try metrics.timing("conversations") { try base.conversations(owner: owner, limit: limit, after: cursor) }
    }

    public func search(owner: String, query: SearchQuery, limit: Int, after cursor: SearchCursor?) throws -> [SearchHit] {
        try metrics.timing("search") { try base.search(owner: owner, query: query, limit: limit, after: cursor) }
    }

    public func deleteAllConversations(owner: String) throws -> Int {
        try metrics.timing("delete_all_conversations") { try base.deleteAllConversations(owner: owner) }
    }

    public func usage(owner: String, day: String) throws -> (day: UsageTotals, total: UsageTotals) {
        try metrics.timing("usage") { try base.usage(owner: owner, day: day) }
    }

    public func recordUsage(owner: String, day: String, adding totals: UsageTotals) throws {
        try metrics.timing("record_usage") { try base.recordUsage(owner: owner, day: day, adding: totals) }
    }

    public func checkAvailable() throws {
        try metrics.timing("check_available") { try base.checkAvailable() }
    }

    public func allConversations() throws -> [Conversation] {
        try metrics.timing("all_conversations") { try base.allConversations() }
    }

    public func importToken(_ token: TokenRecord) throws {
        try metrics.timing("import_token") { try base.importToken(token) }
    }

    public func importConversation(_ conversation: Conversation, messages: [StoredMessage], versions: [Int: [MessageVersion]]) throws {
        try metrics.timing("import_conversation") { try base.importConversation(conversation, messages: messages, versions: versions) }
    }
}
