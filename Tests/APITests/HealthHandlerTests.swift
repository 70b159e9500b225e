@testable import API
import Foundation
import HTTP
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
    func messages(conversationID: String, newest limit: Int, before sequence: Int?) throws -> [StoredMessage] { throw down }
    func conversationSummary(id: String, owner: String) throws -> ConversationSummary? { throw down }
    func commitTurn(_ turn: Turn) throws { throw down }
    func updateConversation(id: String, owner: String, change: ConversationSettingsChange) throws -> Conversation? { throw down }
    func deleteConversation(id: String, owner: String) throws -> Bool { throw down }
    func acquireTurnLock(conversationID: String, timeout: Double) throws -> TurnLock { throw down }
    func releaseTurnLock(_ lock: TurnLock) {}
    func conversations(owner: String, limit: Int, after cursor: ConversationCursor?) throws -> [ConversationSummary] { throw down }
    func deleteAllConversations(owner: String) throws -> Int { throw down }
    func usage(owner: String, day: String) throws -> (day: UsageTotals, total: UsageTotals) { throw down }
    func checkAvailable() throws { throw down }
    func allConversations() throws -> [Conversation] { throw down }
    func importToken(_ token: TokenRecord) throws { throw down }
    func importConversation(_ conversation: Conversation, messages: [StoredMessage]) throws { throw down }
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
}
