import Foundation
import Store
import Testing

/// The search part of the `ConversationStore` contract, run against every backend.
@Suite struct SearchConformanceTests {
    /// A store with alice and bob, each holding conversations; alice's are numbered from 1.
    private func make(_ backend: StoreBackend) throws -> any ConversationStore {
        let store = try backend.make().store
        try store.insertToken(makeToken("alice"))
        try store.insertToken(makeToken("bob"))
        return store
    }

    private func search(_ store: any ConversationStore, _ text: String, owner: String = "tok-alice", limit: Int = 100) throws -> [SearchHit] {
        try store.search(owner: owner, query: SearchQuery(parsing: text), limit: limit, after: nil)
    }

    private func found(_ store: any ConversationStore, _ text: String, owner: String = "tok-alice") throws -> Set<String> {
        Set(try search(store, text, owner: owner).map { "\($0.conversationID)#\($0.sequence ?? 0)" })
    }

    @Test(arguments: StoreBackend.allCases)
    func everyWordMustMatchPhrasesInOrderAndPrefixes(backend: StoreBackend) throws {
        let store = try make(backend)
        try store.commitTurn(turn("c1", owner: "tok-alice", starts: true, "The quarterly invoice is due on Friday", at: 1_000))
        try store.commitTurn(turn("c2", owner: "tok-alice", starts: true, "Friday the invoice was late, due to the bank", at: 2_000))
        #expect(try found(store, "invoice friday") == ["c1#1", "c1#2", "c2#1", "c2#2"])
        #expect(try found(store, "INVOICE Quarterly") == ["c1#1", "c1#2"])
        #expect(try found(store, "\"due on friday\"") == ["c1#1", "c1#2"])
        #expect(try found(store, "\"friday due\"").isEmpty)
        #expect(try found(store, "quart*") == ["c1#1", "c1#2"])
        #expect(try found(store, "the invo*") == ["c1#1", "c1#2", "c2#1", "c2#2"])
        #expect(try found(store, "invoice missing").isEmpty)
        #expect(try found(store, "invoic").isEmpty, "a word matches whole words only")
    }

    @Test(arguments: StoreBackend.allCases)
    func hitsNameTheirMessageAndMarkTheMatchInTheSnippet(backend: StoreBackend) throws {
        let store = try make(backend)
        try store.commitTurn(turn("c1", owner: "tok-alice", starts: true, "where is the lighthouse of Alexandria", at: 5_000))
        let hits = try search(store, "lighthouse")
        #expect(hits.count == 2)
        let prompt = try #require(hits.first { $0.sequence == 1 })
        #expect(prompt.role == .user)
        #expect(prompt.conversationID == "c1")
        #expect(prompt.createdAt == .at(5_000))
        #expect(prompt.firstPrompt == "where is the lighthouse of Alexandria")
        #expect(prompt.title == nil)
        #expect(prompt.snippet.contains("[lighthouse]"), "\(prompt.snippet)")
        #expect(hits.first { $0.sequence == 2 }?.role == .assistant)
        // A long text gives a short snippet around the match.
        let filler = Array(repeating: "word", count: 200).joined(separator: " ")
        try store.commitTurn(turn("c2", owner: "tok-alice", starts: true, "\(filler) needle \(filler)", at: 6_000))
        let snippet = try #require(try search(store, "needle").first).snippet
        #expect(snippet.contains("[needle]"))
        #expect(snippet.split(separator: " ").count <= 25, "\(snippet)")
    }

    @Test(arguments: StoreBackend.allCases)
    func titlesAreSearchedAndKeptExactThroughChanges(backend: StoreBackend) throws {
        let store = try make(backend)
        var start = turn("c1", owner: "tok-alice", starts: true, "hello", at: 1_000)
        start.settings.title = "Holiday plans for Lisbon"
        try store.commitTurn(start)
        let hit = try #require(try search(store, "lisbon").first)
        #expect(hit.sequence == nil && hit.role == nil)
        #expect(hit.title == "Holiday plans for Lisbon")
        #expect(hit.snippet.contains("[Lisbon]"))
        #expect(hit.createdAt == .at(1_000))

        _ = try store.updateConversation(id: "c1", owner: "tok-alice", change: ConversationSettingsChange(title: "Trip to Porto"))
        #expect(try found(store, "lisbon").isEmpty)
        #expect(try found(store, "porto") == ["c1#0"])
        _ = try store.updateConversation(id: "c1", owner: "tok-alice", change: ConversationSettingsChange(system: "be brief"))
        #expect(try found(store, "porto") == ["c1#0"], "a change of other settings keeps the title's entry")
        _ = try store.updateConversation(id: "c1", owner: "tok-alice", change: ConversationSettingsChange(title: .some(nil)))
        #expect(try found(store, "porto").isEmpty)
        _ = try store.updateConversation(id: "c1", owner: "tok-alice", change: ConversationSettingsChange(title: "Porto again"))
        #expect(try found(store, "porto") == ["c1#0"])
    }

    @Test(arguments: StoreBackend.allCases)
    func onlyTheOwnersConversationsAreSearched(backend: StoreBackend) throws {
        let store = try make(backend)
        try store.commitTurn(turn("a1", owner: "tok-alice", starts: true, "secret recipe for pancakes", at: 1_000))
        var bobs = turn("b1", owner: "tok-bob", starts: true, "secret recipe for waffles", at: 2_000)
        bobs.settings.title = "secret waffles"
        try store.commitTurn(bobs)
        #expect(try found(store, "secret recipe") == ["a1#1", "a1#2"])
        #expect(try found(store, "waffles").isEmpty)
        #expect(try found(store, "secret", owner: "tok-bob") == ["b1#0", "b1#1", "b1#2"])
        #expect(try found(store, "secret", owner: "tok-nobody").isEmpty)
    }

    @Test(arguments: StoreBackend.allCases)
    func deletedConversationsVanishAtOnce(backend: StoreBackend) throws {
        let store = try make(backend)
        for (index, id) in ["c1", "c2", "c3"].enumerated() {
            var start = turn(id, owner: "tok-alice", starts: true, "giraffe number \(index)", at: Int64(1_000 + index))
            start.settings.title = "giraffe \(id)"
            try store.commitTurn(start)
        }
        try store.commitTurn(turn("b1", owner: "tok-bob", starts: true, "giraffe of bob", at: 9_000))
        #expect(try search(store, "giraffe").count == 9)
        #expect(try store.deleteConversation(id: "c2", owner: "tok-alice"))
        #expect(try found(store, "giraffe") == ["c1#0", "c1#1", "c1#2", "c3#0", "c3#1", "c3#2"])
        #expect(try store.deleteAllConversations(owner: "tok-alice") == 2)
        #expect(try found(store, "giraffe").isEmpty)
        #expect(try found(store, "giraffe", owner: "tok-bob") == ["b1#1", "b1#2"])
    }

    @Test(arguments: StoreBackend.allCases)
    func importsReplaceWhatTheConversationHeld(backend: StoreBackend) throws {
        let store = try make(backend)
        try store.commitTurn(turn("c1", owner: "tok-alice", starts: true, "original zebra", at: 1_000))
        let conversation = Conversation(
            id: "c1", owner: "tok-alice", createdAt: .at(1_000), updatedAt: .at(3_000), settings: ConversationSettings(title: "imported okapi")
        )
        try store.importConversation(conversation, messages: [
            StoredMessage(sequence: 1, role: .user, content: "imported okapi question", createdAt: .at(2_000)),
            StoredMessage(sequence: 2, role: .assistant, content: "an answer", model: "m", createdAt: .at(3_000)),
        ])
        #expect(try found(store, "zebra").isEmpty)
        #expect(try found(store, "okapi") == ["c1#0", "c1#1"])
        try store.importConversation(conversation, messages: [])
        #expect(try found(store, "okapi") == ["c1#0"])
    }

    @Test(arguments: StoreBackend.allCases)
    func pagesFollowTheCursorWithoutRepeatsOrGaps(backend: StoreBackend) throws {
        let store = try make(backend)
        // Equal texts score alike: the newest come first. Other texts keep the word rare.
        for index in 0..<7 {
            try store.commitTurn(turn("c\(index)", owner: "tok-alice", starts: true, "penguin colony", at: Int64(1_000 + index)))
        }
        try store.commitTurn(turn("c9", owner: "tok-alice", starts: true, "penguin penguin penguin", at: 500))
        for index in 0..<10 {
            try store.commitTurn(turn("d\(index)", owner: "tok-alice", starts: true, "something else entirely", at: 400))
        }
        let all = try search(store, "penguin")
        #expect(all.count == 16)
        #expect(all.first?.conversationID == "c9", "the most relevant first")
        for tie in Dictionary(grouping: all, by: \.score).values {
            #expect(tie.map(\.createdAt) == tie.map(\.createdAt).sorted(by: >), "newest first on ties")
        }
        #expect(Dictionary(grouping: all, by: \.score).values.contains { $0.count >= 7 }, "equal texts tie")
        var paged: [SearchHit] = []
        var cursor: SearchCursor?
        repeat {
            let page = try store.search(owner: "tok-alice", query: SearchQuery(parsing: "penguin"), limit: 3, after: cursor)
            #expect(page.count <= 3)
            paged += page
            cursor = page.count == 3 ? page.last?.cursor : nil
        } while cursor != nil
        #expect(paged.map(\.cursor) == all.map(\.cursor))
        #expect(try store.search(owner: "tok-alice", query: SearchQuery(parsing: "penguin"), limit: 0, after: nil).isEmpty)
    }

    @Test(arguments: StoreBackend.allCases)
    func unusualTextIsIndexedAndSearchedSafely(backend: StoreBackend) throws {
        let store = try make(backend)
        try store.commitTurn(turn("c1", owner: "tok-alice", starts: true, "NUL\u{0}inside, \"quotes\" and 'apostrophes' (parens) NEAR AND OR", at: 1_000))
        try store.commitTurn(turn("c2", owner: "tok-alice", starts: true, "Ünïcödé façade Straße 東京 🙂 done", at: 2_000))
        #expect(try found(store, "inside quotes") == ["c1#1", "c1#2"])
        #expect(try found(store, "near and or") == ["c1#1", "c1#2"])
        #expect(try found(store, "\"parens) near\"") == ["c1#1", "c1#2"])
        #expect(try found(store, "façade straße") == ["c2#1", "c2#2"])
        #expect(try found(store, "ÜNÏCÖDÉ") == ["c2#1", "c2#2"])
        #expect(try found(store, "facade").isEmpty, "accents are kept")
        #expect(try found(store, "東京") == ["c2#1", "c2#2"])
    }
}
