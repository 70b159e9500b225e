import FoundationEssentials
import Platform

/// Where askd keeps access tokens, conversations and their messages.
///
/// The contract, which the conformance suite in `Tests/StoreTests` checks against every backend:
/// - **Threads.** Every method may be called from any worker thread at any time; a backend does
///   its own synchronisation (SQLite: one connection per thread).
/// - **Tokens.** Names are unique. Only hashes are stored. `revokeToken` matches an id first,
///   then a name, and takes effect for every process sharing the store at once.
/// - **Ownership.** A conversation is visible only to the token that started it: for any other
///   owner, lookups return `nil` and deletes return `false`, exactly as for an unknown id.
/// - **Atomic turns.** `commitTurn` stores the prompt and the answer as the next two messages,
///   updates the conversation, creates it when the turn starts it, and adds the answer's usage
///   to the owner's day, all or nothing. A turn
///   on a conversation that does not exist (or is another owner's) throws
///   `StoreError.conversationNotFound` and stores nothing.
/// - **Order.** Messages come back in sequence order, numbered 1, 2, 3, ... without gaps. A
///   conversation's newest messages (`messages(conversationID:newest:before:)`) are read through
///   the index on its sequence numbers, as many as asked and no more, however long it is; so are
///   a summary's count, first prompt and last model, and a page of summaries reads only its own
///   conversations, however many the owner has.
/// - **Serialised turns.** Between `acquireTurnLock` and `releaseTurnLock` (or inside
///   `withTurnLock`), no other caller, in this process or another one sharing the store, holds
///   the lock of the same conversation. The lock belongs to the `TurnLock` value, not to a
///   thread: one thread may take it and another release it, as an answer that arrives on
///   another thread does. A lock its holder never releases (a crashed process) expires. A
///   turn committed with the `lock` it ran under is stored only if that lock is still its
///   holder's (a backend whose locks expire checks it in the commit's transaction); otherwise
///   it throws `StoreError.turnLockLost` and stores nothing.
/// - **Limits.** `admit` decides by `RateWindow`'s rules on counters kept in the store, under
///   the store's write lock (SQLite) or the token's advisory lock (PostgreSQL), so that every
///   process and host sharing it admits exactly as many requests as the limits allow, in
///   total. A ticket's parallel slot is a lease, renewed while its request runs (`SlotLeases`),
///   that runs out when its process dies. `finishAdmission`, or committing a turn that carries
///   the ticket, frees the slot and counts the tokens, once.
/// - **Deletes** remove the conversation and all its messages for good, previous versions
///   included, and its shares with them, in the same transaction.
/// - **Search** finds the owner's messages and conversation titles that hold every term of a
///   `SearchQuery`, tokenized alike on every backend (letters, digits and marks; case folded),
///   in `SearchCursor`'s order. Every write to messages or titles (turns, imports, deletes,
///   title changes, a message replaced in place) changes what search finds in its own
///   transaction, and a search reads only the owner's entries however many others hold.
/// - **Shares** are snapshots: `createShare` copies the conversation's title and messages as
///   they are, and later turns change nothing in them. `sharedConversation` answers nil for an
///   unknown, revoked or expired share, and for a share whose owner's token is revoked.
/// - **Batch imports** (`insertConversations`) store every conversation given or none, and
///   count nothing in the owner's usage.
/// - **Forks.** `forkConversation` creates a conversation of the same owner, with the original's
///   settings (its title replaced when the fork names one), created and updated at the fork's
///   date, holding copies of messages 1 through `through`: the same numbers, roles, contents,
///   models, usage, dates and previous versions. All or nothing; the original is unchanged, and
///   no usage is counted.
/// - **Regenerations.** `replaceLastAnswer` replaces the conversation's last message, which must
///   be the assistant's answer numbered `sequence`, with the new answer under the same number,
///   and keeps the replaced one as that message's newest previous version; it updates the
///   conversation, counts the usage and ends the ticket as `commitTurn` does, and checks the
///   lock as `commitTurn` does (else `StoreError.turnLockLost`), all or nothing. A missing or
///   foreign conversation, or one whose last message is not that answer, throws
///   `StoreError.conversationNotFound` and stores nothing.
/// - **Availability.** A failure of the database itself (unreachable, locked past the busy
///   timeout, out of space) throws `StoreError.unavailable`, and the store recovers by itself
///   once the database is back; `checkAvailable` asks without doing anything else.
/// - **Imports** (`askd store copy`) keep ids, owners, dates and sequence numbers exactly, and
///   replace what has the same id, so that copying twice gives the same result.
public protocol ConversationStore: Sendable {
    /// Stores a new token.
    /// - Throws: `StoreError.duplicate` when the name or id is taken.
    func insertToken(_ token: TokenRecord) throws

    /// The token with this hash, valid or not.
    func token(hash: String) throws -> TokenRecord?

    /// Every token, oldest first.
    func allTokens() throws -> [TokenRecord]

    /// Revokes the token whose id, or else whose name, is `idOrName`; returns it, or `nil` if none.
    func revokeToken(idOrName: String, at date: Date) throws -> TokenRecord?

    /// Changes the settings of the token whose id, or else whose name, is `idOrName`, and every
    /// process sharing the store sees the change as it sees a revocation; returns the token as
    /// it now is, or `nil` if none.
    /// - Throws: `StoreError.duplicate` when a new name is taken.
    func updateToken(idOrName: String, change: TokenChange) throws -> TokenRecord?

    /// Records that the token was used at `date`.
    func markTokenUsed(id: String, at date: Date) throws

    /// The conversation, if it exists and belongs to `owner`.
    func conversation(id: String, owner: String) throws -> Conversation?

    /// The conversation's messages in order; empty for an unknown conversation.
    func messages(conversationID: String) throws -> [StoredMessage]

    /// The conversation's newest `limit` messages whose sequence number is below `sequence` (or
    /// the newest of all, when it is nil), oldest first; empty for an unknown conversation. They
    /// stop before the message that would take their text (content and model, in UTF-8 bytes)
    /// past `maxBytes`, unless it is the newest of them: what is read is bounded, whatever the
    /// messages hold.
    /// - Parameters:
    ///   - limit: the most messages returned; 0 or less returns none.
    ///   - sequence: any number: one below 2 returns none, one past the last message returns the newest.
    func messages(conversationID: String, newest limit: Int, before sequence: Int?, maxBytes: Int) throws -> [StoredMessage]

    /// The conversation as a list shows it (`conversations(owner:limit:after:)`), if it exists
    /// and belongs to `owner`.
    func conversationSummary(id: String, owner: String) throws -> ConversationSummary?

    /// Stores a completed turn atomically; see the contract above.
    func commitTurn(_ turn: Turn) throws

    /// Commits `turn` as `commitTurn(_:)` does and passes the outcome to `completion`, once,
    /// without blocking the caller on the database: a store with a commit thread of its own
    /// commits there (maybe together with other turns); the default commits on the process's
    /// `WorkQueue`.
    func commitTurn(_ turn: Turn, completion: @escaping @Sendable (Result<Void, any Error>) -> Void)

    /// Copies the start of a conversation into a new one; see the contract above.
    /// - Throws: `StoreError.duplicate` when the new id is taken.
    func forkConversation(_ fork: ConversationFork) throws -> ForkOutcome

    /// Replaces a conversation's last answer with a new one, in one transaction; see the contract above.
    func replaceLastAnswer(_ regeneration: Regeneration) throws

    /// The previous versions of the conversation's messages numbered within `sequences`, oldest
    /// first, by sequence number; a message never replaced has none (and no entry).
    func previousVersions(conversationID: String, sequences: ClosedRange<Int>) throws -> [Int: [MessageVersion]]

    /// Changes some of the settings of `owner`'s conversation; the conversation as it now is,
    /// or nil if there is none (or it is another owner's). `updatedAt` is left alone.
    func updateConversation(id: String, owner: String, change: ConversationSettingsChange) throws -> Conversation?

    /// Deletes the conversation and its messages if it belongs to `owner`; whether it did.
    func deleteConversation(id: String, owner: String) throws -> Bool

    /// Takes the conversation's turn lock and passes it to `completion`, once: at once when it
    /// is free, else when it frees, or `StoreError.turnLockTimedOut` after `timeout` seconds. No
    /// thread waits meanwhile (see `TurnLeases`); `completion` may run on the thread that
    /// released the lock and must not block. The caller must release the lock with
    /// `releaseTurnLock`, from any thread.
    func acquireTurnLock(
        conversationID: String, timeout: Double, then completion: @escaping @Sendable (Result<TurnLock, any Error>) -> Void
    )

    /// Gives the lock back. It never throws: a lock that cannot be released now expires.
    func releaseTurnLock(_ lock: TurnLock)

    /// The owner's conversations, newest first (by creation, then id), at most `limit` of them,
    /// starting after `cursor`. Stable while conversations are added: a page never repeats or
    /// skips one that existed when the first page was read.
    func conversations(owner: String, limit: Int, after cursor: ConversationCursor?) throws -> [ConversationSummary]

    /// Deletes every conversation of `owner`, with its messages; how many there were.
    func deleteAllConversations(owner: String) throws -> Int

    /// The owner's usage on `day` (`YYYY-MM-DD`, UTC) and in total. Every committed turn
    /// counts, with the usage its answer reported, on the UTC day of its date; deleting
    /// conversations does not take it back.
    func usage(owner: String, day: String) throws -> (day: UsageTotals, total: UsageTotals)

    /// Adds `totals` (requests to the model and the tokens they used) to the owner's usage on
    /// `day` (`YYYY-MM-DD`, UTC), for answers that were not stored as turns (a stateless chat
    /// completion, a client that left, a conversation that went away): the model was paid for
    /// all the same. One call may carry many requests (`UsageLedger` gathers them).
    func recordUsage(owner: String, day: String, adding totals: UsageTotals) throws

    /// Admits requests of `tokenID` under `limits` at `date`, or refuses them, by
    /// `RateWindow.grant` on the token's counters: up to `wanted` requests (at least one, fewer
    /// when the limits are near), counted in the window (when a per-minute limit is set) and
    /// holding as many parallel slots under one lease (when `maxParallel` is); the ticket says
    /// how many and where. When refused, nothing is counted. A backend whose hosts share it may
    /// read `date` from its own clock instead; the readings say which (`at`).
    func admit(tokenID: String, limits: TokenLimits, at date: Date, wanted: Int) throws -> Admission

    /// Gives back parts of tickets of several requests (`AllowanceBroker`), all in one
    /// transaction: each `Settlement`'s requests leave the window, its lease keeps its slots
    /// (none: the lease ends), and its tokens are counted in the window at `date`.
    /// - Throws: when the store cannot be written; nothing was changed then.
    func settle(_ settlements: [Settlement], at date: Date) throws

    /// Ends an admitted request: frees its slot, counts `tokens` (what the model used) in the
    /// window at `date`, and takes the request back out of the window when `counted` is false
    /// (it never reached the model). It never throws: a slot that cannot be freed now is freed
    /// at the next renewals, or its lease runs out.
    func finishAdmission(_ ticket: AdmissionTicket, tokens: Int, counted: Bool, at date: Date)

    /// The token's counters at `date` for the limits set in `limits`, without counting anything.
    func limitReadings(tokenID: String, limits: TokenLimits, at date: Date) throws -> LimitReadings

    /// Whether the store can serve now: the readiness check.
    /// - Throws: `StoreError.unavailable` when it cannot.
    func checkAvailable() throws

    /// The owner's messages and titles that match `query`, in `SearchCursor`'s order, at most
    /// `limit` of them, starting after `cursor`.
    func search(owner: String, query: SearchQuery, limit: Int, after cursor: SearchCursor?) throws -> [SearchHit]

    // MARK: Shares

    /// Snapshots `share.conversationID` (its title and messages, as they are now) under
    /// `share.id`, if the conversation belongs to `share.owner`; whether it did.
    /// - Throws: `StoreError.duplicate` when the share id is taken.
    func createShare(_ share: Share) throws -> Bool

    /// The owner's shares, newest first, expired ones included.
    func shares(owner: String) throws -> [Share]

    /// Revokes the share if it belongs to `owner`; whether it did. Readers miss it at once.
    func deleteShare(id: String, owner: String) throws -> Bool

    /// The snapshot a share shows at `date`; nil when the share is unknown, revoked or expired
    /// at `date`, or its owner's token is revoked.
    func sharedConversation(id: String, at date: Date) throws -> SharedConversation?

    // MARK: Exports and imports

    /// Stores every one of `conversations` with its messages, under the ids and owners they
    /// carry, all or nothing; their usage is not counted.
    /// - Throws: `StoreError.duplicate` when an id is taken (and nothing is stored).
    func insertConversations(_ conversations: [ImportedConversation]) throws

    // MARK: Moving stores

    /// Every conversation of every owner, oldest first.
    func allConversations() throws -> [Conversation]

    /// Stores `token` exactly as it is, replacing the token with the same id.
    /// - Throws: `StoreError.duplicate` when another token has its name or hash.
    func importToken(_ token: TokenRecord) throws

    /// Stores the conversation with exactly these messages and previous versions (by sequence
    /// number, oldest first), replacing any conversation with the same id and all it holds, all
    /// or nothing.
    func importConversation(_ conversation: Conversation, messages: [StoredMessage], versions: [Int: [MessageVersion]]) throws

    /// Every share of every owner, oldest first, expired or not.
    func allShares() throws -> [Share]

    /// The share's snapshot, whether it can be read now or not (expired, or its token revoked).
    func shareSnapshot(id: String) throws -> SharedConversation?

    /// Stores the share with exactly this snapshot, replacing the share with the same id; its
    /// conversation must be there (imported first), or `StoreError.conversationNotFound`.
    func importShare(_ share: Share, snapshot: SharedConversation) throws
}

/// A conversation's turn lock, held by whoever has this value until it is released.
public struct TurnLock: Sendable, Hashable {
    public let conversationID: String
    /// Unique to this acquisition, so that only its holder releases it.
    public let holder: String

    public init(conversationID: String, holder: String) {
        self.conversationID = conversationID
        self.holder = holder
    }
}

extension ConversationStore {
    /// Admits one request, or refuses it (`admit(tokenID:limits:at:wanted:)`).
    public func admit(tokenID: String, limits: TokenLimits, at date: Date) throws -> Admission {
        try admit(tokenID: tokenID, limits: limits, at: date, wanted: 1)
    }

    /// Counts one request to the model with `usage` on the owner's UTC day of `date`.
    public func recordUsage(owner: String, usage: TokenUsage, date: Date) throws {
        try recordUsage(
            owner: owner, day: date.usageDay,
            adding: UsageTotals(requests: 1, promptTokens: usage.promptTokens, completionTokens: usage.completionTokens)
        )
    }

    /// Stores the conversation with exactly these messages and no previous versions.
    public func importConversation(_ conversation: Conversation, messages: [StoredMessage]) throws {
        try importConversation(conversation, messages: messages, versions: [:])
    }

    /// The newest `limit` messages before `sequence`, however many bytes they hold.
    public func messages(conversationID: String, newest limit: Int, before sequence: Int?) throws -> [StoredMessage] {
        try messages(conversationID: conversationID, newest: limit, before: sequence, maxBytes: .max)
    }

    public func commitTurn(_ turn: Turn, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        WorkQueue.shared.post { completion(Result { try commitTurn(turn) }) }
    }

    /// Replaces the last answer as `replaceLastAnswer(_:)` does and passes the outcome to
    /// `completion`, once, on the process's `WorkQueue`: never on the caller's thread.
    public func replaceLastAnswer(_ regeneration: Regeneration, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        WorkQueue.shared.post { completion(Result { try replaceLastAnswer(regeneration) }) }
    }

    /// Takes the conversation's turn lock, waiting on the calling thread up to `timeout`
    /// seconds for it: for tools and tests.
    /// - Throws: `StoreError.turnLockTimedOut` when the wait runs out.
    public func acquireTurnLock(conversationID: String, timeout: Double) throws -> TurnLock {
        let outcome = Handoff<Result<TurnLock, any Error>>()
        acquireTurnLock(conversationID: conversationID, timeout: timeout) { outcome.put($0) }
        return try outcome.take().get()
    }

    /// Runs `body` holding the conversation's turn lock, waiting up to `timeout` seconds for it.
    /// - Throws: `StoreError.turnLockTimedOut` when the wait runs out, or what `body` throws.
    public func withTurnLock<T>(conversationID: String, timeout: Double, _ body: () throws -> T) throws -> T {
        let lock = try acquireTurnLock(conversationID: conversationID, timeout: timeout)
        defer { releaseTurnLock(lock) }
        return try body()
    }
}
