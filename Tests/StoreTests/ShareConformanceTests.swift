import Foundation
import Store
import Testing

/// The share-link part of the `ConversationStore` contract, run against every backend.
@Suite struct ShareConformanceTests {
    /// A store with alice's conversation c1 (two turns) and bob's c2.
    private func populated(_ backend: StoreBackend) throws -> (store: any ConversationStore, alice: TokenRecord, bob: TokenRecord) {
        let store = try backend.make().store
        let alice = makeToken("alice")
        let bob = makeToken("bob")
        try store.insertToken(alice)
        try store.insertToken(bob)
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "first", at: 1_000))
        try store.commitTurn(turn("c1", owner: alice.id, starts: false, "second", at: 2_000))
        try store.commitTurn(turn("c2", owner: bob.id, starts: true, "bob's", at: 1_500))
        return (store, alice, bob)
    }

    private func share(_ id: String, of conversation: String, owner: String, at milliseconds: Int64 = 3_000, expires: Int64? = nil) -> Share {
        Share(id: id, owner: owner, conversationID: conversation, createdAt: .at(milliseconds), expiresAt: expires.map(Date.at))
    }

    @Test(arguments: StoreBackend.allCases)
    func aShareIsASnapshotOfTitleAndMessages(backend: StoreBackend) throws {
        let (store, alice, _) = try populated(backend)
        _ = try store.updateConversation(id: "c1", owner: alice.id, change: ConversationSettingsChange(title: "Greetings", system: "secret"))
        #expect(try store.createShare(share("s1", of: "c1", owner: alice.id)))
        // Later turns and changes do not reach the snapshot.
        try store.commitTurn(turn("c1", owner: alice.id, starts: false, "third", at: 4_000))
        _ = try store.updateConversation(id: "c1", owner: alice.id, change: ConversationSettingsChange(title: "Renamed"))

        let shared = try #require(try store.sharedConversation(id: "s1", at: .at(5_000)))
        #expect(shared.title == "Greetings")
        #expect(shared.sharedAt == .at(3_000))
        #expect(shared.messages.map(\.content) == ["first", "echo: first", "second", "echo: second"])
        #expect(shared.messages.map(\.role) == [.user, .assistant, .user, .assistant])
        #expect(shared.messages.map(\.sequence) == [1, 2, 3, 4])
        #expect(shared.messages.allSatisfy { $0.model == nil && $0.usage == nil }, "no model or usage in a share")
        #expect(shared.messages.last?.createdAt == .at(2_000))
    }

    @Test(arguments: StoreBackend.allCases)
    func onlyTheOwnerSharesListsAndRevokes(backend: StoreBackend) throws {
        let (store, alice, bob) = try populated(backend)
        #expect(try !store.createShare(share("s1", of: "c2", owner: alice.id)), "bob's conversation is unknown to alice")
        #expect(try !store.createShare(share("s1", of: "nope", owner: alice.id)))
        #expect(try store.sharedConversation(id: "s1", at: .at(5_000)) == nil)

        #expect(try store.createShare(share("s1", of: "c1", owner: alice.id, at: 3_000)))
        #expect(try store.createShare(share("s2", of: "c1", owner: alice.id, at: 4_000, expires: 9_000)))
        #expect(try store.createShare(share("s3", of: "c2", owner: bob.id)))
        #expect(throws: StoreError.self) { try store.createShare(share("s3", of: "c1", owner: alice.id)) }
        #expect(try store.shares(owner: alice.id).map(\.id) == ["s2", "s1"])
        #expect(try store.shares(owner: alice.id).first == share("s2", of: "c1", owner: alice.id, at: 4_000, expires: 9_000))
        #expect(try store.shares(owner: bob.id).map(\.id) == ["s3"])

        #expect(try !store.deleteShare(id: "s3", owner: alice.id), "another owner's share is unknown")
        #expect(try store.sharedConversation(id: "s3", at: .at(5_000)) != nil)
        #expect(try store.deleteShare(id: "s1", owner: alice.id))
        #expect(try !store.deleteShare(id: "s1", owner: alice.id))
        #expect(try store.sharedConversation(id: "s1", at: .at(5_000)) == nil, "revoked at once")
        #expect(try store.shares(owner: alice.id).map(\.id) == ["s2"])
    }

    @Test(arguments: StoreBackend.allCases)
    func sharesAreReadWholeAndImportedAsTheyAreForACopy(backend: StoreBackend) throws {
        let (store, alice, bob) = try populated(backend)
        #expect(try store.createShare(share("s-late", of: "c1", owner: alice.id, at: 3_000, expires: 3_500)))
        #expect(try store.createShare(share("s-early", of: "c2", owner: bob.id, at: 2_500)))
        _ = try store.revokeToken(idOrName: "bob", at: .at(2_600))
        #expect(try store.allShares().map(\.id) == ["s-early", "s-late"], "oldest first, every owner")
        // Expired, or its token revoked: not readable, still copied.
        #expect(try store.sharedConversation(id: "s-late", at: .at(4_000)) == nil)
        let snapshot = try #require(try store.shareSnapshot(id: "s-late"))
        #expect(snapshot.messages.map(\.content) == ["first", "echo: first", "second", "echo: second"])
        #expect(try store.shareSnapshot(id: "s-early") != nil)
        #expect(try store.shareSnapshot(id: "unknown") == nil)

        let imported = Share(id: "s-late", owner: alice.id, conversationID: "c1", createdAt: .at(3_000), expiresAt: nil)
        let replaced = SharedConversation(title: "Kept", sharedAt: .at(3_000), messages: Array(snapshot.messages.prefix(2)))
        try store.importShare(imported, snapshot: replaced)
        try store.importShare(imported, snapshot: replaced)
        #expect(try store.allShares().filter { $0.id == "s-late" } == [imported], "replaced by id, once")
        #expect(try store.shareSnapshot(id: "s-late") == replaced)
        #expect(try store.sharedConversation(id: "s-late", at: .at(9_000)) == replaced, "no longer expires")
        #expect(throws: StoreError.self) {
            try store.importShare(Share(id: "s-x", owner: alice.id, conversationID: "c-missing", createdAt: .at(1), expiresAt: nil), snapshot: replaced)
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func anExpiredShareIsGone(backend: StoreBackend) throws {
        let (store, alice, _) = try populated(backend)
        #expect(try store.createShare(share("s1", of: "c1", owner: alice.id, expires: 9_000)))
        #expect(try store.sharedConversation(id: "s1", at: .at(8_999)) != nil)
        #expect(try store.sharedConversation(id: "s1", at: .at(9_000)) == nil)
        #expect(try store.shares(owner: alice.id).map(\.id) == ["s1"], "still listed, with its date")
    }

    @Test(arguments: StoreBackend.allCases)
    func deletingTheConversationOrAllOfThemRevokesTheirShares(backend: StoreBackend) throws {
        let (store, alice, bob) = try populated(backend)
        try store.commitTurn(turn("c3", owner: alice.id, starts: true, "other", at: 1_200))
        #expect(try store.createShare(share("s1", of: "c1", owner: alice.id)))
        #expect(try store.createShare(share("s2", of: "c3", owner: alice.id)))
        #expect(try store.createShare(share("s3", of: "c2", owner: bob.id)))

        #expect(try store.deleteConversation(id: "c1", owner: alice.id))
        #expect(try store.sharedConversation(id: "s1", at: .at(5_000)) == nil)
        #expect(try store.shares(owner: alice.id).map(\.id) == ["s2"])
        #expect(try store.deleteAllConversations(owner: alice.id) == 1)
        #expect(try store.sharedConversation(id: "s2", at: .at(5_000)) == nil)
        #expect(try store.shares(owner: alice.id).isEmpty)
        #expect(try store.sharedConversation(id: "s3", at: .at(5_000)) != nil, "bob's share stays")
    }

    @Test(arguments: StoreBackend.allCases)
    func revokingTheTokenHidesItsShares(backend: StoreBackend) throws {
        let (store, alice, bob) = try populated(backend)
        #expect(try store.createShare(share("s1", of: "c1", owner: alice.id)))
        #expect(try store.createShare(share("s2", of: "c2", owner: bob.id)))
        _ = try store.revokeToken(idOrName: alice.id, at: .at(4_000))
        #expect(try store.sharedConversation(id: "s1", at: .at(5_000)) == nil)
        #expect(try store.sharedConversation(id: "s2", at: .at(5_000)) != nil)
    }

    @Test(arguments: StoreBackend.allCases)
    func aConversationWithoutTitleOrMessagesSharesAsSuch(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice")
        try store.insertToken(alice)
        try store.insertConversations([ImportedConversation(
            conversation: Conversation(id: "empty", owner: alice.id, createdAt: .at(1_000), updatedAt: .at(1_000)), messages: []
        )])
        #expect(try store.createShare(share("s1", of: "empty", owner: alice.id)))
        #expect(try store.sharedConversation(id: "s1", at: .at(5_000)) == SharedConversation(title: nil, sharedAt: .at(3_000), messages: []))
    }
}

/// `insertConversations`: the batch import of the contract, run against every backend.
@Suite struct BatchImportConformanceTests {
    private func item(_ id: String, owner: String, messages: Int = 2) -> ImportedConversation {
        ImportedConversation(
            conversation: Conversation(
                id: id, owner: owner, createdAt: .at(1_000), updatedAt: .at(2_000),
                settings: ConversationSettings(title: "t-\(id)", system: "sys", model: "m")
            ),
            messages: (0..<messages).map { index in
                StoredMessage(
                    sequence: index + 1, role: index % 2 == 0 ? .user : .assistant, content: "message \(index) of \(id)",
                    model: index % 2 == 0 ? nil : "m", usage: index % 2 == 0 ? nil : TokenUsage(promptTokens: 1, completionTokens: 2, totalTokens: 3),
                    createdAt: .at(1_000 + Int64(index))
                )
            }
        )
    }

    @Test(arguments: StoreBackend.allCases)
    func aBatchIsStoredWhole(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice")
        try store.insertToken(alice)
        var withVersions = item("c", owner: alice.id, messages: 5)
        withVersions.versions = [
            2: [MessageVersion(content: "first try", model: "old", usage: TokenUsage(promptTokens: 1, completionTokens: 1, totalTokens: 2), createdAt: .at(900)),
                MessageVersion(content: "second try", createdAt: .at(950))],
            4: [MessageVersion(content: "another", model: "m", createdAt: .at(990))],
        ]
        let batch = [item("a", owner: alice.id), item("b", owner: alice.id, messages: 0), withVersions]
        try store.insertConversations(batch)
        for expected in batch {
            #expect(try store.conversation(id: expected.conversation.id, owner: alice.id) == expected.conversation)
            #expect(try store.messages(conversationID: expected.conversation.id) == expected.messages)
            #expect(try store.previousVersions(conversationID: expected.conversation.id, sequences: 1...10) == expected.versions)
        }
        #expect(try store.conversations(owner: alice.id, limit: 10, after: nil).count == 3)
        // Turns go on after the imported messages; the import itself counted no usage.
        #expect(try store.usage(owner: alice.id, day: "1970-01-01").total == UsageTotals())
        try store.commitTurn(turn("c", owner: alice.id, starts: false, "more", at: 8_000))
        #expect(try store.messages(conversationID: "c").map(\.sequence) == Array(1...7))
    }

    @Test(arguments: StoreBackend.allCases)
    func aTakenIDStoresNothingOfTheBatch(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice")
        try store.insertToken(alice)
        try store.commitTurn(turn("taken", owner: alice.id, starts: true, "hi"))
        #expect(throws: StoreError.self) {
            try store.insertConversations([item("new1", owner: alice.id), item("taken", owner: alice.id), item("new2", owner: alice.id)])
        }
        #expect(throws: StoreError.self) { try store.insertConversations([item("twice", owner: alice.id), item("twice", owner: alice.id)]) }
        #expect(try store.conversations(owner: alice.id, limit: 10, after: nil).map(\.conversation.id) == ["taken"])
        #expect(try store.messages(conversationID: "new1").isEmpty)
        #expect(try store.messages(conversationID: "taken").count == 2)
    }
}
