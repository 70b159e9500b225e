import Foundation
import Store
import Testing

/// Search after the writes of forks, regenerations and batch imports, on every backend.
extension SearchConformanceTests {
    private func hits(_ store: any ConversationStore, _ text: String, owner: String = "tok-alice") throws -> Set<String> {
        Set(try store.search(owner: owner, query: SearchQuery(parsing: text), limit: 100, after: nil).map { "\($0.conversationID)#\($0.sequence ?? 0)" })
    }

    @Test(arguments: StoreBackend.allCases)
    func aRegeneratedAnswerIsFoundByItsNewTextOnly(backend: StoreBackend) throws {
        let store = try backend.make().store
        try store.insertToken(makeToken("alice"))
        var first = turn("c1", owner: "tok-alice", starts: true, "tell me about herons", at: 1_000)
        first.answer = "herons wade in shallow water"
        try store.commitTurn(first)
        try store.replaceLastAnswer(Regeneration(
            conversationID: "c1", owner: "tok-alice", sequence: 2, answer: "kingfishers dive instead", model: "m", usage: nil, date: .at(2_000)
        ))
        #expect(try hits(store, "shallow").isEmpty, "the replaced answer is no longer found")
        #expect(try hits(store, "kingfishers") == ["c1#2"])
        #expect(try hits(store, "herons") == ["c1#1"])
    }

    @Test(arguments: StoreBackend.allCases)
    func forksAndBatchImportsAreFound(backend: StoreBackend) throws {
        let store = try backend.make().store
        try store.insertToken(makeToken("alice"))
        try store.insertToken(makeToken("bob"))
        try store.commitTurn(turn("c1", owner: "tok-alice", starts: true, "first about puffins", at: 1_000))
        try store.commitTurn(turn("c1", owner: "tok-alice", starts: false, "second about gannets", at: 2_000))
        _ = try store.forkConversation(ConversationFork(
            conversationID: "c1", owner: "tok-alice", through: 2, newID: "f1", title: "forked puffins", date: .at(3_000)
        ))
        #expect(try hits(store, "puffins") == ["c1#1", "c1#2", "f1#0", "f1#1", "f1#2"])
        #expect(try hits(store, "gannets") == ["c1#3", "c1#4"])
        try store.insertConversations([ImportedConversation(
            conversation: Conversation(id: "i1", owner: "tok-bob", createdAt: .at(4_000), updatedAt: .at(4_000)),
            messages: [StoredMessage(sequence: 1, role: .user, content: "imported puffins", createdAt: .at(4_000))]
        )])
        #expect(try hits(store, "puffins", owner: "tok-bob") == ["i1#1"])
        #expect(try hits(store, "puffins").contains("i1#1") == false)
    }
}
