import Foundation
import Store
import Testing

func regeneration(_ conversation: String, owner: String, sequence: Int, _ answer: String, at milliseconds: Int64) -> Regeneration {
    Regeneration(
        conversationID: conversation, owner: owner, sequence: sequence, answer: answer, model: "model-2",
        usage: TokenUsage(promptTokens: 10, completionTokens: 20, totalTokens: 30), date: .at(milliseconds)
    )
}

/// Forks and regenerations: the contract's `Forks` and `Regenerations`, on every backend.
extension ConversationStoreConformanceTests {
    @Test(arguments: StoreBackend.allCases)
    func aForkCopiesTheMessagesThroughOneWithTheirDatesAndLeavesTheOriginal(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice")
        try store.insertToken(alice)
        var first = turn("c1", owner: alice.id, starts: true, "one", at: 1_000)
        first.settings = ConversationSettings(title: "Trip", system: "be brief", model: "m1")
        try store.commitTurn(first)
        try store.commitTurn(turn("c1", owner: alice.id, starts: false, "two", at: 2_000))
        try store.replaceLastAnswer(regeneration("c1", owner: alice.id, sequence: 4, "two again", at: 3_000))
        let before = try store.messages(conversationID: "c1")

        let fork = ConversationFork(conversationID: "c1", owner: alice.id, through: 3, newID: "f1", title: nil, date: .at(9_000))
        let forked = Conversation(
            id: "f1", owner: alice.id, createdAt: .at(9_000), updatedAt: .at(9_000),
            settings: ConversationSettings(title: "Trip", system: "be brief", model: "m1")
        )
        #expect(try store.forkConversation(fork) == .forked(forked))
        #expect(try store.conversation(id: "f1", owner: alice.id) == forked)
        #expect(try store.messages(conversationID: "f1") == Array(before.prefix(3)))
        #expect(try store.messages(conversationID: "c1") == before)
        #expect(try store.conversationSummary(id: "f1", owner: alice.id)?.messageCount == 3)

        // Through the regenerated answer: its previous versions come along; a new title replaces the old.
        var titled = fork
        titled.newID = "f2"
        titled.through = 4
        titled.title = "Trip, again"
        guard case .forked(let second) = try store.forkConversation(titled) else { throw ForkFailed() }
        #expect(second.settings == ConversationSettings(title: "Trip, again", system: "be brief", model: "m1"))
        #expect(try store.messages(conversationID: "f2") == before)
        #expect(try store.previousVersions(conversationID: "f2", sequences: 1...4) == store.previousVersions(conversationID: "c1", sequences: 1...4))
        #expect(try store.previousVersions(conversationID: "f2", sequences: 1...4)[4]?.map(\.content) == ["echo: two"])
        // A fork is no model call.
        #expect(try store.usage(owner: alice.id, day: Date.at(9_000).usageDay).total.requests == 3)
        // Turns go on after the copied messages, in the fork only.
        try store.commitTurn(turn("f1", owner: alice.id, starts: false, "three", at: 10_000))
        #expect(try store.messages(conversationID: "f1").map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(try store.messages(conversationID: "c1").count == 4)
    }

    @Test(arguments: StoreBackend.allCases)
    func aForkOfAMissingForeignOrShortConversationStoresNothing(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice")
        let bob = makeToken("bob")
        try store.insertToken(alice)
        try store.insertToken(bob)
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "one", at: 1_000))
        func fork(_ id: String, by owner: String, through: Int, as newID: String = "f1") -> ConversationFork {
            ConversationFork(conversationID: id, owner: owner, through: through, newID: newID, title: nil, date: .at(2_000))
        }
        #expect(try store.forkConversation(fork("nope", by: alice.id, through: 1)) == .conversationNotFound)
        #expect(try store.forkConversation(fork("c1", by: bob.id, through: 1)) == .conversationNotFound)
        #expect(try store.forkConversation(fork("c1", by: alice.id, through: 3)) == .messageNotFound)
        #expect(try store.forkConversation(fork("c1", by: alice.id, through: 0)) == .messageNotFound)
        #expect(try store.conversation(id: "f1", owner: alice.id) == nil)
        #expect(try store.messages(conversationID: "f1").isEmpty)
        // A taken id is refused, and nothing is copied into it.
        try store.commitTurn(turn("taken", owner: alice.id, starts: true, "mine", at: 1_000))
        #expect(throws: StoreError.self) { try store.forkConversation(fork("c1", by: alice.id, through: 2, as: "taken")) }
        #expect(try store.messages(conversationID: "taken").map(\.content) == ["mine", "echo: mine"])
    }

    @Test(arguments: StoreBackend.allCases)
    func aRegenerationReplacesTheLastAnswerAndKeepsTheOldOnesOldestFirst(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice")
        try store.insertToken(alice)
        let day: Int64 = 1_795_700_001_000
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "one", at: day))
        try store.commitTurn(turn("c1", owner: alice.id, starts: false, "two", at: day + 1_000))
        let original = try store.messages(conversationID: "c1")

        try store.replaceLastAnswer(regeneration("c1", owner: alice.id, sequence: 4, "second answer", at: day + 2_000))
        try store.replaceLastAnswer(regeneration("c1", owner: alice.id, sequence: 4, "third answer", at: day + 3_000))
        let messages = try store.messages(conversationID: "c1")
        #expect(messages.map(\.sequence) == [1, 2, 3, 4])
        #expect(Array(messages.prefix(3)) == Array(original.prefix(3)))
        #expect(messages[3] == StoredMessage(
            sequence: 4, role: .assistant, content: "third answer", model: "model-2",
            usage: TokenUsage(promptTokens: 10, completionTokens: 20, totalTokens: 30), createdAt: .at(day + 3_000)
        ))
        let versions = try store.previousVersions(conversationID: "c1", sequences: 1...4)
        #expect(versions.keys.sorted() == [4])
        #expect(versions[4] == [
            MessageVersion(of: original[3]),
            MessageVersion(content: "second answer", model: "model-2", usage: TokenUsage(promptTokens: 10, completionTokens: 20, totalTokens: 30), createdAt: .at(day + 2_000)),
        ])
        #expect(try store.previousVersions(conversationID: "c1", sequences: 1...3).isEmpty)
        #expect(try store.conversation(id: "c1", owner: alice.id)?.updatedAt == .at(day + 3_000))
        // Each regeneration is a model call: two turns (3 + 5) and two regenerations (10 + 20).
        #expect(try store.usage(owner: alice.id, day: Date.at(day).usageDay).day == UsageTotals(requests: 4, promptTokens: 26, completionTokens: 50))
        #expect(try store.conversationSummary(id: "c1", owner: alice.id)?.lastModel == "model-2")

        // Versions go with their conversation.
        #expect(try store.deleteConversation(id: "c1", owner: alice.id))
        #expect(try store.previousVersions(conversationID: "c1", sequences: 1...4).isEmpty)
        try store.commitTurn(turn("c2", owner: alice.id, starts: true, "one", at: day))
        try store.replaceLastAnswer(regeneration("c2", owner: alice.id, sequence: 2, "again", at: day + 1_000))
        #expect(try store.deleteAllConversations(owner: alice.id) == 1)
        #expect(try store.previousVersions(conversationID: "c2", sequences: 1...2).isEmpty)
    }

    @Test(arguments: StoreBackend.allCases)
    func aRegenerationOfAnythingButTheOwnersLastAnswerStoresNothing(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice")
        let bob = makeToken("bob")
        try store.insertToken(alice)
        try store.insertToken(bob)
        let day: Int64 = 1_795_700_001_000
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "one", at: day))
        let conversation = try store.conversation(id: "c1", owner: alice.id)
        let messages = try store.messages(conversationID: "c1")
        for (owner, id, sequence) in [(bob.id, "c1", 2), (alice.id, "nope", 2), (alice.id, "c1", 1), (alice.id, "c1", 3)] {
            #expect(throws: StoreError.conversationNotFound(id)) {
                try store.replaceLastAnswer(regeneration(id, owner: owner, sequence: sequence, "x", at: day + 1_000))
            }
        }
        // An imported conversation that ends with a prompt has no last answer.
        let imported = Conversation(id: "c2", owner: alice.id, createdAt: .at(day), updatedAt: .at(day))
        try store.importConversation(imported, messages: [StoredMessage(sequence: 1, role: .user, content: "hi", createdAt: .at(day))])
        #expect(throws: StoreError.conversationNotFound("c2")) {
            try store.replaceLastAnswer(regeneration("c2", owner: alice.id, sequence: 1, "x", at: day + 1_000))
        }
        #expect(try store.conversation(id: "c1", owner: alice.id) == conversation)
        #expect(try store.messages(conversationID: "c1") == messages)
        #expect(try store.previousVersions(conversationID: "c1", sequences: 1...3).isEmpty)
        #expect(try store.usage(owner: alice.id, day: Date.at(day).usageDay).day.requests == 1)
        #expect(try store.usage(owner: bob.id, day: Date.at(day).usageDay).day.requests == 0)
    }

    @Test(arguments: StoreBackend.allCases)
    func aRegenerationUnderItsLockFreesItsSlotAndCountsItsTokens(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        var alice = makeToken("alice")
        alice.limits = TokenLimits(tokensPerMinute: 1_000, maxParallel: 1)
        try store.insertToken(alice)
        let other = try reopen()
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "one", at: Date().milliseconds))
        let ticket = try #require(try store.admit(tokenID: alice.id, limits: alice.limits, at: Date()).ticket)
        var again = regeneration("c1", owner: alice.id, sequence: 2, "again", at: Date().milliseconds)
        again.admission = ticket
        let lock = try store.acquireTurnLock(conversationID: "c1", timeout: 5)
        again.lock = lock
        try store.replaceLastAnswer(again)
        store.releaseTurnLock(lock)
        let readings = try other.limitReadings(tokenID: alice.id, limits: alice.limits, at: Date())
        #expect(readings.slotsInUse == 0)
        #expect(readings.tokensInWindow == 30)
        #expect(try other.messages(conversationID: "c1").last?.content == "again")
    }

    /// A regeneration is stored under the lock it ran under only while that lock is still its own.
    @Test(arguments: [StoreBackend.sqlite, .postgres])
    func aRegenerationWhoseLockWasTakenOverIsNotStored(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let other = try reopen()
        let alice = makeToken("alice")
        try store.insertToken(alice)
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "first"))
        let lost = try store.acquireTurnLock(conversationID: "c1", timeout: 1)
        store.releaseTurnLock(lost)  // as if its lease had run out
        let taken = try other.acquireTurnLock(conversationID: "c1", timeout: 1)
        var late = regeneration("c1", owner: alice.id, sequence: 2, "late", at: 1_795_700_002_000)
        late.lock = lost
        #expect(throws: StoreError.turnLockLost("c1")) { try store.replaceLastAnswer(late) }
        #expect(try store.messages(conversationID: "c1").map(\.content) == ["first", "echo: first"])
        #expect(try store.previousVersions(conversationID: "c1", sequences: 1...2).isEmpty)
        other.releaseTurnLock(taken)
    }
}

private struct ForkFailed: Error {}
