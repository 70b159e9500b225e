#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Platform

/// The reference `ConversationStore`: everything in memory, for tests and for trying askd out.
public final class MemoryStore: ConversationStore {
    struct State {
        var tokens: [TokenRecord] = []
        var conversations: [String: Conversation] = [:]
        var messages: [String: [StoredMessage]] = [:]
        /// By conversation, then sequence number: the previous versions, oldest first.
        var versions: [String: [Int: [MessageVersion]]] = [:]
        var lockedConversations: Set<String> = []
        /// By owner, then UTC day.
        var usage: [String: [String: UsageTotals]] = [:]
        /// By share id, with the snapshot each shows.
        var shares: [String: (share: Share, snapshot: SharedConversation)] = [:]

        /// Forgets the conversation, its messages, their previous versions and its shares.
        mutating func removeConversation(_ id: String) {
            conversations[id] = nil
            messages[id] = nil
            versions[id] = nil
            shares = shares.filter { $0.value.share.conversationID != id }
        }
    }

    let state: Locked<State>
    /// The waiters for turn locks. A lock here never expires, so its renewals do nothing.
    private let leases: TurnLeases
    private let limits = MemoryLimits()

    public init() {
        let state = Locked(State())
        self.state = state
        leases = TurnLeases(leaseSeconds: 3_600, renew: { _, _ in }) { lock in
            _ = state.withLock { $0.lockedConversations.remove(lock.conversationID) }
        }
    }
    /// How many conversations exist, whoever owns them.
    public var conversationCount: Int { state.withLock { $0.conversations.count } }

    public func insertToken(_ token: TokenRecord) throws {
        try state.withLock { state in
            if state.tokens.contains(where: { $0.name == token.name }) { throw StoreError.duplicate("token name \(token.name)") }
            if state.tokens.contains(where: { $0.id == token.id || $0.hash == token.hash }) {
                throw StoreError.duplicate("token \(token.id)")
            }
            state.tokens.append(token)
        }
    }

    public func token(hash: String) throws -> TokenRecord? {
        state.withLock { $0.tokens.first { $0.hash == hash } }
    }

    public func allTokens() throws -> [TokenRecord] {
        // Stable: tokens made in the same millisecond keep their insertion order.
        state.withLock { tokens in tokens.tokens.enumerated().sorted { ($0.element.createdAt, $0.offset) < ($1.element.createdAt, $1.offset) }.map(\.element) }
    }

    public func revokeToken(idOrName: String, at date: Date) throws -> TokenRecord? {
        state.withLock { state in
            guard let index = state.tokens.firstIndex(where: { $0.id == idOrName })
                ?? state.tokens.firstIndex(where: { $0.name == idOrName })
            else { return nil }
            if state.tokens[index].revokedAt == nil { state.tokens[index].revokedAt = date }
            return state.tokens[index]
        }
    }

    public func updateToken(idOrName: String, change: TokenChange) throws -> TokenRecord? {
        try state.withLock { state in
            guard let index = state.tokens.firstIndex(where: { $0.id == idOrName })
                ?? state.tokens.firstIndex(where: { $0.name == idOrName })
            else { return nil }
            let changed = change.applied(to: state.tokens[index])
            if state.tokens.contains(where: { $0.id != changed.id && $0.name == changed.name }) {
                throw StoreError.duplicate("token name \(changed.name)")
            }
            state.tokens[index] = changed
            return changed
        }
    }

    public func admit(tokenID: String, limits: TokenLimits, at date: Date, wanted: Int) throws -> Admission {
        self.limits.admit(tokenID: tokenID, limits: limits, tokensToday: tokensOn(date, of: tokenID), at: date, wanted: wanted)
    }

    public func settle(_ settlements: [Settlement], at date: Date) throws {
        for settlement in settlements {
            limits.settle(settlement.ticket, returning: settlement.returning, slotsKept: settlement.slotsKept, tokens: settlement.tokens, at: date)
        }
    }

    public func finishAdmission(_ ticket: AdmissionTicket, tokens: Int, counted: Bool, at date: Date) {
        limits.finish(ticket, tokens: tokens, counted: counted, at: date)
    }

    public func limitReadings(tokenID: String, limits: TokenLimits, at date: Date) throws -> LimitReadings {
        self.limits.readings(tokenID: tokenID, limits: limits, tokensToday: tokensOn(date, of: tokenID), at: date)
    }

    private func tokensOn(_ date: Date, of owner: String) -> Int {
        state.withLock { state in
            let day = state.usage[owner]?[date.usageDay]
            return (day?.promptTokens ?? 0) + (day?.completionTokens ?? 0)
        }
    }

    public func markTokenUsed(id: String, at date: Date) throws {
        state.withLock { state in
            if let index = state.tokens.firstIndex(where: { $0.id == id }) { state.tokens[index].lastUsedAt = date }
        }
    }

    public func conversation(id: String, owner: String) throws -> Conversation? {
        state.withLock { state in state.conversations[id].flatMap { $0.owner == owner ? $0 : nil } }
    }

    public func messages(conversationID: String) throws -> [StoredMessage] {
        state.withLock { $0.messages[conversationID] ?? [] }
    }

    public func messages(conversationID: String, newest limit: Int, before sequence: Int?, maxBytes: Int) throws -> [StoredMessage] {
        state.withLock { state in
            let messages = state.messages[conversationID] ?? []
            let end = sequence.map { sequence in messages.firstIndex { $0.sequence >= sequence } ?? messages.endIndex } ?? messages.endIndex
            return Array(StoredMessage.newest(of: messages[..<end], limit: max(0, limit), maxBytes: maxBytes))
        }
    }

    public func conversationSummary(id: String, owner: String) throws -> ConversationSummary? {
        state.withLock { state in
            state.conversations[id].flatMap { $0.owner == owner ? Self.summary(of: $0, in: state) : nil }
        }
    }

    public func commitTurn(_ turn: Turn) throws {
        try state.withLock { state in
            if turn.startsConversation {
                guard state.conversations[turn.conversationID] == nil else {
                    throw StoreError.duplicate("conversation \(turn.conversationID)")
                }
                state.conversations[turn.conversationID] = Conversation(
                    id: turn.conversationID, owner: turn.owner, createdAt: turn.date, updatedAt: turn.date, settings: turn.settings
                )
            } else {
                guard state.conversations[turn.conversationID]?.owner == turn.owner else {
                    throw StoreError.conversationNotFound(turn.conversationID)
                }
                state.conversations[turn.conversationID]!.updatedAt = turn.date
            }
            var day = state.usage[turn.owner, default: [:]][turn.date.usageDay, default: UsageTotals()]
            day.requests += 1
            day.promptTokens += turn.usage?.promptTokens ?? 0
            day.completionTokens += turn.usage?.completionTokens ?? 0
            state.usage[turn.owner, default: [:]][turn.date.usageDay] = day
            if let ticket = turn.admission {
                limits.finish(ticket, tokens: (turn.usage?.promptTokens ?? 0) + (turn.usage?.completionTokens ?? 0), counted: true, at: turn.date)
            }
            let next = (state.messages[turn.conversationID]?.count ?? 0) + 1
            state.messages[turn.conversationID, default: []] += [
                StoredMessage(sequence: next, role: .user, content: turn.prompt, createdAt: turn.date),
                StoredMessage(
                    sequence: next + 1, role: .assistant, content: turn.answer, model: turn.model, usage: turn.usage,
                    createdAt: turn.date
                ),
            ]
        }
    }

    public func forkConversation(_ fork: ConversationFork) throws -> ForkOutcome {
        try state.withLock { state in
            guard var conversation = state.conversations[fork.conversationID], conversation.owner == fork.owner else {
                return .conversationNotFound
            }
            let messages = state.messages[fork.conversationID] ?? []
            guard messages.contains(where: { $0.sequence == fork.through }) else { return .messageNotFound }
            guard state.conversations[fork.newID] == nil else { throw StoreError.duplicate("conversation \(fork.newID)") }
            conversation.id = fork.newID
            conversation.createdAt = fork.date
            conversation.updatedAt = fork.date
            if let title = fork.title { conversation.settings.title = title }
            state.conversations[fork.newID] = conversation
            state.messages[fork.newID] = messages.filter { $0.sequence <= fork.through }
            state.versions[fork.newID] = state.versions[fork.conversationID]?.filter { $0.key <= fork.through }
            return .forked(conversation)
        }
    }

    public func replaceLastAnswer(_ regeneration: Regeneration) throws {
        try state.withLock { state in
            let id = regeneration.conversationID
            guard state.conversations[id]?.owner == regeneration.owner, let last = state.messages[id]?.last,
                last.sequence == regeneration.sequence, last.role == .assistant
            else { throw StoreError.conversationNotFound(id) }
            state.conversations[id]!.updatedAt = regeneration.date
            state.versions[id, default: [:]][last.sequence, default: []].append(MessageVersion(of: last))
            state.messages[id]![state.messages[id]!.count - 1] = StoredMessage(
                sequence: last.sequence, role: .assistant, content: regeneration.answer, model: regeneration.model,
                usage: regeneration.usage, createdAt: regeneration.date
            )
            Self.count(regeneration.usage, of: regeneration.owner, at: regeneration.date, in: &state)
            if let ticket = regeneration.admission {
                let usage = regeneration.usage
                limits.finish(ticket, tokens: (usage?.promptTokens ?? 0) + (usage?.completionTokens ?? 0), counted: true, at: regeneration.date)
            }
        }
    }

    public func previousVersions(conversationID: String, sequences: ClosedRange<Int>) throws -> [Int: [MessageVersion]] {
        state.withLock { state in (state.versions[conversationID] ?? [:]).filter { sequences.contains($0.key) } }
    }

    /// Counts one request to the model in the owner's day.
    private static func count(_ usage: TokenUsage?, of owner: String, at date: Date, in state: inout State) {
        var day = state.usage[owner, default: [:]][date.usageDay, default: UsageTotals()]
        day.requests += 1
        day.promptTokens += usage?.promptTokens ?? 0
        day.completionTokens += usage?.completionTokens ?? 0
        state.usage[owner, default: [:]][date.usageDay] = day
    }

    public func updateConversation(id: String, owner: String, change: ConversationSettingsChange) throws -> Conversation? {
        state.withLock { state in
            guard var conversation = state.conversations[id], conversation.owner == owner else { return nil }
            conversation.settings = change.applied(to: conversation.settings)
            state.conversations[id] = conversation
            return conversation
        }
    }

    public func deleteConversation(id: String, owner: String) throws -> Bool {
        state.withLock { state in
            guard state.conversations[id]?.owner == owner else { return false }
            state.removeConversation(id)
            return true
        }
    }

    public func acquireTurnLock(
        conversationID: String, timeout: Double, then completion: @escaping @Sendable (Result<TurnLock, any Error>) -> Void
    ) {
        let holder = UUID().uuidString
        leases.acquire(conversationID: conversationID, timeout: timeout, take: { [state] in
            state.withLock { $0.lockedConversations.insert(conversationID).inserted }
                ? TurnLock(conversationID: conversationID, holder: holder) : nil
        }, isHeld: { [state] in
            state.withLock { $0.lockedConversations.contains(conversationID) }
        }, then: completion)
    }

    public func releaseTurnLock(_ lock: TurnLock) {
        leases.giveBack(lock)
    }

    public func conversations(owner: String, limit: Int, after cursor: ConversationCursor?) throws -> [ConversationSummary] {
        state.withLock { state in
            state.conversations.values
                .filter { conversation in
                    guard conversation.owner == owner else { return false }
                    guard let cursor else { return true }
                    return (conversation.createdAt, conversation.id) < (cursor.createdAt, cursor.id)
                }
                .sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
                .prefix(max(0, limit))
                .map { Self.summary(of: $0, in: state) }
        }
    }

    private static func summary(of conversation: Conversation, in state: State) -> ConversationSummary {
        let messages = state.messages[conversation.id] ?? []
        return ConversationSummary(
            // The last sequence number, as the other backends read it: numbers have no gaps.
            conversation: conversation, messageCount: messages.last?.sequence ?? 0,
            firstPrompt: messages.first.flatMap { $0.sequence == 1 && $0.role == .user ? $0.content : nil },
            lastModel: messages.last(where: { $0.role == .assistant })?.model
        )
    }

    public func deleteAllConversations(owner: String) throws -> Int {
        state.withLock { state in
            let owned = state.conversations.values.filter { $0.owner == owner }.map(\.id)
            for id in owned { state.removeConversation(id) }
            return owned.count
        }
    }

    public func search(owner: String, query: SearchQuery, limit: Int, after cursor: SearchCursor?) throws -> [SearchHit] {
        let hits = state.withLock { MemorySearch.hits(query, owner: owner, conversations: $0.conversations.values, messages: $0.messages) }
        return MemorySearch.page(hits, limit: limit, after: cursor)
    }

    public func recordUsage(owner: String, day: String, adding totals: UsageTotals) throws {
        state.withLock { state in
            var counted = state.usage[owner, default: [:]][day, default: UsageTotals()]
            counted.requests += totals.requests
            counted.promptTokens += totals.promptTokens
            counted.completionTokens += totals.completionTokens
            state.usage[owner, default: [:]][day] = counted
        }
    }

    public func usage(owner: String, day: String) throws -> (day: UsageTotals, total: UsageTotals) {
        state.withLock { state in
            let days = state.usage[owner] ?? [:]
            let total = days.values.reduce(into: UsageTotals()) { total, day in
                total.requests += day.requests
                total.promptTokens += day.promptTokens
                total.completionTokens += day.completionTokens
            }
            return (days[day] ?? UsageTotals(), total)
        }
    }

    public func checkAvailable() throws {}

    public func allConversations() throws -> [Conversation] {
        state.withLock { state in state.conversations.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
    }

    public func importToken(_ token: TokenRecord) throws {
        try state.withLock { state in
            if state.tokens.contains(where: { $0.id != token.id && ($0.name == token.name || $0.hash == token.hash) }) {
                throw StoreError.duplicate("token \(token.name)")
            }
            if let index = state.tokens.firstIndex(where: { $0.id == token.id }) {
                state.tokens[index] = token
            } else {
                state.tokens.append(token)
            }
        }
    }

    public func importConversation(_ conversation: Conversation, messages: [StoredMessage], versions: [Int: [MessageVersion]]) throws {
        state.withLock { state in
            state.conversations[conversation.id] = conversation
            state.messages[conversation.id] = messages.sorted { $0.sequence < $1.sequence }
            state.versions[conversation.id] = versions.isEmpty ? nil : versions
        }
    }
}
