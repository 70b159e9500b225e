@testable import API
import Foundation
import HTTP
import Platform
import Store
import Testing

/// A store whose database is gone: every call fails as unavailable.
struct UnavailableStore: ConversationStore {
    private var down: StoreError { .unavailable("connection refused") }
    func insertToken(_ token: TokenRecord) throws { throw down }
    func token(hash: String) throws -> TokenRecord? { throw down }
    func allTokens() throws -> [TokenRecord] { throw down }
    func revokeToken(idOrName: String, at date: Date) throws -> TokenRecord? { throw down }
    func markTokenUsed(id: String, at date: Date) throws { throw down }
    func conversation(id: String, owner: String) throws -> Conversation? { throw down }
    func messages(conversationID: String) throws -> [StoredMessage] { throw down }
    func messages(conversationID: String, newest limit: Int, before sequence: Int?, maxBytes: Int) throws -> [StoredMessage] { throw down }
    func conversationSummary(id: String, owner: String) throws -> ConversationSummary? { throw down }
    func commitTurn(_ turn: Turn) throws { throw down }
    func updateConversation(id: String, owner: String, change: ConversationSettingsChange) throws -> Conversation? { throw down }
    func deleteConversation(id: String, owner: String) throws -> Bool { throw down }
    func acquireTurnLock(
        conversationID: String, timeout: Double, then completion: @escaping @Sendable (Result<TurnLock, any Error>) -> Void
    ) {
        completion(.failure(down))
    }
    func releaseTurnLock(_ lock: TurnLock) {}
    func conversations(owner: String, limit: Int, after cursor: ConversationCursor?) throws -> [ConversationSummary] { throw down }
    func deleteAllConversations(owner: String) throws -> Int { throw down }
    func search(owner: String, query: SearchQuery, limit: Int, after cursor: SearchCursor?) throws -> [SearchHit] { throw down }
    func usage(owner: String, day: String) throws -> (day: UsageTotals, total: UsageTotals) { throw down }
    func recordUsage(owner: String, day: String, adding totals: UsageTotals) throws { throw down }
    func checkAvailable() throws { throw down }
    func allConversations() throws -> [Conversation] { throw down }
    func importToken(_ token: TokenRecord) throws { throw down }
    func importConversation(_ conversation: Conversation, messages: [StoredMessage], versions: [Int: [MessageVersion]]) throws { throw down }
    func updateToken(idOrName: String, change: TokenChange) throws -> TokenRecord? { throw down }
    func admit(tokenID: String, limits: TokenLimits, at date: Date, wanted: Int) throws -> Admission { throw down }
    func settle(_ settlements: [Settlement], at date: Date) throws { throw down }
    func finishAdmission(_ ticket: AdmissionTicket, tokens: Int, counted: Bool, at date: Date) {}
    func limitReadings(tokenID: String, limits: TokenLimits, at date: Date) throws -> LimitReadings { throw down }
    func forkConversation(_ fork: ConversationFork) throws -> ForkOutcome { throw down }
    func replaceLastAnswer(_ regeneration: Regeneration) throws { throw down }
    func previousVersions(conversationID: String, sequences: ClosedRange<Int>) throws -> [Int: [MessageVersion]] { throw down }
    func createShare(_ share: Share) throws -> Bool { throw down }
    func shares(owner: String) throws -> [Share] { throw down }
    func deleteShare(id: String, owner: String) throws -> Bool { throw down }
    func sharedConversation(id: String, at date: Date) throws -> SharedConversation? { throw down }
    func allShares() throws -> [Share] { throw down }
    func shareSnapshot(id: String) throws -> SharedConversation? { throw down }
    func importShare(_ share: Share, snapshot: SharedConversation) throws { throw down }
    func insertConversations(_ conversations: [ImportedConversation]) throws { throw down }
}

@Suite struct HealthHandlerTests {
    private func check(_ handler: HealthHandler) throws -> (Int, String, Response) {
        let response = try handler.handle(Request(method: "GET", path: "/healthz"))
        guard case .bytes(let bytes) = response.body else { throw HTTPError(.internalServerError, "streamed") }
        return (response.status.code, String(decoding: bytes, as: UTF8.self), response)
    }

    @Test func okWhileTheStoreAnswers() throws {
        let (status, body, response) = try check(HealthHandler(store: MemoryStore()))
        #expect(status == 200)
        #expect(body == #"{"status":"ok"}"#)
        #expect(response.headers["Cache-Control"] == "no-store")
    }

    @Test func unavailableWhileTheStoreIsDown() throws {
        let (status, body, response) = try check(HealthHandler(store: UnavailableStore()))
        #expect(status == 503)
        #expect(body == #"{"status":"unavailable","store":"down"}"#)
        #expect(response.headers["Retry-After"] == "5")
    }

    /// While the store hangs, one check waits for it and every other answers at once.
    @Test func oneCheckWaitsForAHangingStoreTheOthersAnswerAtOnce() throws {
        let checks = Locked(0)
        let store = CheckCountingStore { checks.withLock { $0 += 1 }; usleep(2_000_000) }
        let handler = HealthHandler(store: store)
        let waits = Locked<[Double]>([])
        let threads = (0..<20).map { index in
            Thread {
                if index > 0 { usleep(100_000) }
                let start = Date()
                _ = try? handler.handle(Request(method: "GET", path: "/healthz"))
                waits.withLock { $0.append(Date().timeIntervalSince(start)) }
            }
        }
        for thread in threads { thread.start() }
        let deadline = Date().addingTimeInterval(30)
        while waits.withLock({ $0.count }) < 20, Date() < deadline { usleep(10_000) }
        let sorted = waits.withLock { $0.sorted() }
        #expect(checks.withLock { $0 } == 1)
        #expect(sorted.count == 20)
        #expect(sorted.dropLast().allSatisfy { $0 < 0.1 }, "\(sorted)")
    }
}

/// A memory store whose availability check runs `check` first, and whose usage writes fail
/// while `refusesUsage` is set.
final class CheckCountingStore: ConversationStore, @unchecked Sendable {
    private let inner = MemoryStore()
    private let check: @Sendable () -> Void
    let refusesUsage = Locked(false)
    /// The `wanted` of every `admit` asked of it, in order.
    let admissionsAsked = Locked<[Int]>([])
    init(check: @escaping @Sendable () -> Void = {}) { self.check = check }
    func checkAvailable() throws { check(); try inner.checkAvailable() }
    func insertToken(_ token: TokenRecord) throws { try inner.insertToken(token) }
    func token(hash: String) throws -> TokenRecord? { try inner.token(hash: hash) }
    func allTokens() throws -> [TokenRecord] { try inner.allTokens() }
    func revokeToken(idOrName: String, at date: Date) throws -> TokenRecord? { try inner.revokeToken(idOrName: idOrName, at: date) }
    func markTokenUsed(id: String, at date: Date) throws { try inner.markTokenUsed(id: id, at: date) }
    func conversation(id: String, owner: String) throws -> Conversation? { try inner.conversation(id: id, owner: owner) }
    func messages(conversationID: String) throws -> [StoredMessage] { try inner.messages(conversationID: conversationID) }
    func messages(conversationID: String, newest limit: Int, before sequence: Int?, maxBytes: Int) throws -> [StoredMessage] {
        try inner.messages(conversationID: conversationID, newest: limit, before: sequence, maxBytes: maxBytes)
    }
    func conversationSummary(id: String, owner: String) throws -> ConversationSummary? { try inner.conversationSummary(id: id, owner: owner) }
    func commitTurn(_ turn: Turn) throws { try inner.commitTurn(turn) }
    func updateConversation(id: String, owner: String, change: ConversationSettingsChange) throws -> Conversation? {
        try inner.updateConversation(id: id, owner: owner, change: change)
    }
    func deleteConversation(id: String, owner: String) throws -> Bool { try inner.deleteConversation(id: id, owner: owner) }
    func acquireTurnLock(
        conversationID: String, timeout: Double, then completion: @escaping @Sendable (Result<TurnLock, any Error>) -> Void
    ) {
        inner.acquireTurnLock(conversationID: conversationID, timeout: timeout, then: completion)
    }
    func releaseTurnLock(_ lock: TurnLock) { inner.releaseTurnLock(lock) }
    func conversations(owner: String, limit: Int, after cursor: ConversationCursor?) throws -> [ConversationSummary] {
        try inner.conversations(owner: owner, limit: limit, after: cursor)
    }
    func deleteAllConversations(owner: String) throws -> Int { try inner.deleteAllConversations(owner: owner) }
    func search(owner: String, query: SearchQuery, limit: Int, after cursor: SearchCursor?) throws -> [SearchHit] {
        try inner.search(owner: owner, query: query, limit: limit, after: cursor)
    }
    func usage(owner: String, day: String) throws -> (day: UsageTotals, total: UsageTotals) { try inner.usage(owner: owner, day: day) }
    func recordUsage(owner: String, day: String, adding totals: UsageTotals) throws {
        if refusesUsage.withLock({ $0 }) { throw StoreError.unavailable("usage refused") }
        try inner.recordUsage(owner: owner, day: day, adding: totals)
    }
    func allConversations() throws -> [Conversation] { try inner.allConversations() }
    func importToken(_ token: TokenRecord) throws { try inner.importToken(token) }
    func importConversation(_ conversation: Conversation, messages: [StoredMessage], versions: [Int: [MessageVersion]]) throws {
        try inner.importConversation(conversation, messages: messages, versions: versions)
    }
    func updateToken(idOrName: String, change: TokenChange) throws -> TokenRecord? { try inner.updateToken(idOrName: idOrName, change: change) }
    func admit(tokenID: String, limits: TokenLimits, at date: Date, wanted: Int) throws -> Admission {
        admissionsAsked.withLock { $0.append(wanted) }
        return try inner.admit(tokenID: tokenID, limits: limits, at: date, wanted: wanted)
    }
    func settle(_ settlements: [Settlement], at date: Date) throws { try inner.settle(settlements, at: date) }
    func finishAdmission(_ ticket: AdmissionTicket, tokens: Int, counted: Bool, at date: Date) {
        inner.finishAdmission(ticket, tokens: tokens, counted: counted, at: date)
    }
    func limitReadings(tokenID: String, limits: TokenLimits, at date: Date) throws -> LimitReadings {
        try inner.limitReadings(tokenID: tokenID, limits: limits, at: date)
    }
    func forkConversation(_ fork: ConversationFork) throws -> ForkOutcome { try inner.forkConversation(fork) }
    func replaceLastAnswer(_ regeneration: Regeneration) throws { try inner.replaceLastAnswer(regeneration) }
    func previousVersions(conversationID: String, sequences: ClosedRange<Int>) throws -> [Int: [MessageVersion]] {
        try inner.previousVersions(conversationID: conversationID, sequences: sequences)
    }
    func createShare(_ share: Share) throws -> Bool { try inner.createShare(share) }
    func shares(owner: String) throws -> [Share] { try inner.shares(owner: owner) }
    func deleteShare(id: String, owner: String) throws -> Bool { try inner.deleteShare(id: id, owner: owner) }
    func sharedConversation(id: String, at date: Date) throws -> SharedConversation? { try inner.sharedConversation(id: id, at: date) }
    func allShares() throws -> [Share] { try inner.allShares() }
    func shareSnapshot(id: String) throws -> SharedConversation? { try inner.shareSnapshot(id: id) }
    func importShare(_ share: Share, snapshot: SharedConversation) throws { try inner.importShare(share, snapshot: snapshot) }
    func insertConversations(_ conversations: [ImportedConversation]) throws { try inner.insertConversations(conversations) }
}
