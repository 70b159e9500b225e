@testable import App
import Foundation
import Store
import Testing

struct StoreCopyTests {
    private func at(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    /// A source with two owners, one revoked token and conversations of several turns.
    private func populated() throws -> MemoryStore {
        let store = MemoryStore()
        try store.insertToken(TokenRecord(id: "tok_a", name: "alice", hash: String(repeating: "a", count: 64), createdAt: at(1_000)))
        var bob = TokenRecord(id: "tok_b", name: "bob", hash: String(repeating: "b", count: 64), createdAt: at(2_000))
        bob.revokedAt = at(9_000)
        try store.insertToken(bob)
        for (index, owner) in ["tok_a", "tok_b", "tok_a"].enumerated() {
            for turn in 0..<(index + 1) {
                try store.commitTurn(Turn(
                    conversationID: "c\(index)", owner: owner, startsConversation: turn == 0, prompt: "q\(turn)", answer: "a\(turn)",
                    model: "m", usage: TokenUsage(promptTokens: 1, completionTokens: 2, totalTokens: 3), date: at(3_000 + Int64(index * 10 + turn))
                ))
            }
        }
        return store
    }

    @Test func everythingArrivesAsItWasAndIsVerified() throws {
        let source = try populated()
        let target = MemoryStore()
        let summary = try StoreCopy.copy(from: source, to: target, force: false)
        #expect(summary == StoreCopy.Summary(tokens: 2, conversations: 3, messages: 12))
        #expect(try target.allTokens() == source.allTokens())
        #expect(try target.allConversations() == source.allConversations())
        for conversation in try source.allConversations() {
            #expect(try target.messages(conversationID: conversation.id) == source.messages(conversationID: conversation.id))
            #expect(try target.conversation(id: conversation.id, owner: conversation.owner) != nil)
        }
    }

    @Test func theAnswersRegenerationsReplacedAreCopiedAndVerified() throws {
        let source = try populated()
        let conversation = try #require(try source.allConversations().first { $0.id == "c2" })
        let versions = [6: [MessageVersion(content: "an earlier a2", model: "m", createdAt: at(3_100))], 4: [MessageVersion(content: "old a1", createdAt: at(3_050))]]
        try source.importConversation(conversation, messages: try source.messages(conversationID: "c2"), versions: versions)
        let target = MemoryStore()
        _ = try StoreCopy.copy(from: source, to: target, force: false)
        #expect(try target.previousVersions(conversationID: "c2", sequences: 1...6) == versions)
        #expect(try target.previousVersions(conversationID: "c0", sequences: 1...2).isEmpty)
    }

    @Test func shareLinksArriveWithTheirSnapshotsEvenExpired() throws {
        let source = try populated()
        #expect(try source.createShare(Share(id: "share-1", owner: "tok_a", conversationID: "c0", createdAt: at(4_000), expiresAt: nil)))
        #expect(try source.createShare(Share(id: "share-2", owner: "tok_a", conversationID: "c2", createdAt: at(4_100), expiresAt: at(4_200))))
        let target = MemoryStore()
        let summary = try StoreCopy.copy(from: source, to: target, force: false)
        #expect(summary.shares == 2)
        #expect(summary.description.hasSuffix("and 2 shares"))
        #expect(try target.allShares() == source.allShares())
        for id in ["share-1", "share-2"] { #expect(try target.shareSnapshot(id: id) == source.shareSnapshot(id: id)) }
        #expect(try target.sharedConversation(id: "share-1", at: at(5_000))?.messages.count == 2)
    }

    @Test func aTargetWithDataIsRefusedUnlessForcedAndCopyingAgainChangesNothing() throws {
        let source = try populated()
        let target = MemoryStore()
        _ = try StoreCopy.copy(from: source, to: target, force: false)
        let refusal = #expect(throws: StoreCopy.Refusal.self) { try StoreCopy.copy(from: source, to: target, force: false) }
        #expect(refusal?.description.contains("--force") == true)
        let before = (try target.allTokens(), try target.allConversations())
        #expect(try StoreCopy.copy(from: source, to: target, force: true) == StoreCopy.Summary(tokens: 2, conversations: 3, messages: 12))
        #expect(try target.allTokens() == before.0)
        #expect(try target.allConversations() == before.1)
        #expect(try target.messages(conversationID: "c2").count == 6)
    }

    @Test func aTargetTokenNameTakenByAnotherIdStopsTheCopy() throws {
        let source = try populated()
        let target = MemoryStore()
        try target.insertToken(TokenRecord(id: "tok_other", name: "alice", hash: String(repeating: "c", count: 64), createdAt: at(5)))
        #expect(throws: StoreError.self) { try StoreCopy.copy(from: source, to: target, force: true) }
    }
}
