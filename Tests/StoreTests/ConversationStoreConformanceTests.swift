import Foundation
import Store
import Testing

/// The `ConversationStore` contract, run against every backend.
@Suite struct ConversationStoreConformanceTests {
    // MARK: Tokens

    @Test(arguments: StoreBackend.allCases)
    func tokensAreStoredFoundByHashAndListedOldestFirst(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice", created: 1_000)
        let bob = makeToken("bob", created: 2_000)
        try store.insertToken(bob)
        try store.insertToken(alice)
        #expect(try store.token(hash: alice.hash) == alice)
        #expect(try store.token(hash: "nope") == nil)
        #expect(try store.allTokens().map(\.name) == ["alice", "bob"])
    }

    @Test(arguments: StoreBackend.allCases)
    func tokenNamesAreUnique(backend: StoreBackend) throws {
        let store = try backend.make().store
        try store.insertToken(makeToken("alice"))
        var twin = makeToken("alice")
        twin.id = "other-id"
        twin.hash = String(repeating: "f", count: 64)
        #expect(throws: StoreError.self) { try store.insertToken(twin) }
        #expect(try store.allTokens().count == 1)
    }

    @Test(arguments: StoreBackend.allCases)
    func revokingByIDOrNameIsSeenByEveryHandle(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let alice = makeToken("alice")
        let bob = makeToken("bob")
        try store.insertToken(alice)
        try store.insertToken(bob)
        let other = try reopen()

        let revoked = try #require(try store.revokeToken(idOrName: alice.id, at: .at(5_000)))
        #expect(revoked.revokedAt == .at(5_000))
        #expect(try other.token(hash: alice.hash)?.revokedAt == .at(5_000))
        #expect(try other.token(hash: alice.hash)?.isValid(at: .at(6_000)) == false)

        #expect(try other.revokeToken(idOrName: "bob", at: .at(7_000))?.id == bob.id)
        #expect(try store.token(hash: bob.hash)?.revokedAt == .at(7_000))
        #expect(try store.revokeToken(idOrName: "carol", at: .at(7_000)) == nil)
        // A second revocation keeps the first date.
        #expect(try store.revokeToken(idOrName: "alice", at: .at(9_000))?.revokedAt == .at(5_000))
    }

    @Test(arguments: StoreBackend.allCases)
    func aHandleThatReadATokenBeforeSeesItsRevocationAtOnce(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let alice = makeToken("alice")
        try store.insertToken(alice)
        let other = try reopen()
        for _ in 0..<3 { #expect(try other.token(hash: alice.hash)?.revokedAt == nil) }

        // SQLite's handles see a change at once (a number in a file beside the database);
        // PostgreSQL's through LISTEN/NOTIFY, within milliseconds: 0.2 s here, well inside the
        // one second after which a kept row is read again anyway.
        func sees(_ condition: () throws -> Bool) throws {
            if backend == .postgres {
                try waitFor(seconds: 0.2) { (try? condition()) == true }
            } else {
                #expect(try condition())
            }
        }
        _ = try store.revokeToken(idOrName: "alice", at: .at(5_000))
        #expect(try store.token(hash: alice.hash)?.revokedAt == .at(5_000), "the revoking handle sees it at once")
        try sees { try other.token(hash: alice.hash)?.revokedAt == .at(5_000) }
        // A last use is no change worth announcing: it is seen once a kept row is read again.
        try store.markTokenUsed(id: alice.id, at: .at(6_000))
        try waitFor(seconds: TokenCache.maxAge + 0.5) { (try? other.token(hash: alice.hash)?.lastUsedAt == .at(6_000)) == true }
        var renamed = try #require(try other.token(hash: alice.hash))
        renamed.revokedAt = nil
        try store.importToken(renamed)
        try sees { try other.token(hash: alice.hash)?.revokedAt == nil }
    }

    @Test(arguments: StoreBackend.allCases)
    func lastUseAndExpiry(backend: StoreBackend) throws {
        let store = try backend.make().store
        var token = makeToken("alice")
        token.expiresAt = .at(10_000)
        try store.insertToken(token)
        try store.markTokenUsed(id: token.id, at: .at(3_000))
        let stored = try #require(try store.token(hash: token.hash))
        #expect(stored.lastUsedAt == .at(3_000))
        #expect(stored.isValid(at: .at(9_999)))
        #expect(!stored.isValid(at: .at(10_000)))
    }

    // MARK: Turns

    @Test(arguments: StoreBackend.allCases)
    func aFirstTurnCreatesTheConversationAndLaterTurnsAppendInOrder(backend: StoreBackend) throws {
        let store = try backend.make().store
        let owner = makeToken("alice")
        try store.insertToken(owner)
        try store.commitTurn(turn("c1", owner: owner.id, starts: true, "hello", at: 1_000))
        try store.commitTurn(turn("c1", owner: owner.id, starts: false, "again", at: 2_000))

        let conversation = try #require(try store.conversation(id: "c1", owner: owner.id))
        #expect(conversation.createdAt == .at(1_000))
        #expect(conversation.updatedAt == .at(2_000))
        let messages = try store.messages(conversationID: "c1")
        #expect(messages.map(\.sequence) == [1, 2, 3, 4])
        #expect(messages.map(\.role) == [.user, .assistant, .user, .assistant])
        #expect(messages.map(\.content) == ["hello", "echo: hello", "again", "echo: again"])
        #expect(messages[1].model == "test-model")
        #expect(messages[1].usage == TokenUsage(promptTokens: 3, completionTokens: 5, totalTokens: 8))
        #expect(messages[0].model == nil && messages[0].usage == nil)
        #expect(messages[3].createdAt == .at(2_000))
    }

    @Test(arguments: StoreBackend.allCases)
    func theNewestMessagesComeOldestFirstAndStopWhereAsked(backend: StoreBackend) throws {
        let store = try backend.make().store
        let owner = makeToken("alice")
        try store.insertToken(owner)
        try store.commitTurn(turn("c1", owner: owner.id, starts: true, "t1", at: 1_000))
        for index in 2...5 { try store.commitTurn(turn("c1", owner: owner.id, starts: false, "t\(index)", at: Int64(index) * 1_000)) }
        try store.commitTurn(turn("c2", owner: owner.id, starts: true, "other", at: 9_000))
        let all = try store.messages(conversationID: "c1")
        #expect(all.count == 10)

        let newest = { (limit: Int, before: Int?) in try store.messages(conversationID: "c1", newest: limit, before: before).map(\.sequence) }
        #expect(try newest(3, nil) == [8, 9, 10])
        #expect(try newest(3, 8) == [5, 6, 7])
        #expect(try newest(3, 3) == [1, 2], "fewer than asked at the start")
        #expect(try newest(100, nil) == Array(1...10))
        #expect(try store.messages(conversationID: "c1", newest: 2, before: 5) == Array(all[2...3]), "whole messages")
        // Numbers out of range answer without trapping: before the first, none; past the last, the newest.
        for before in [Int.min, -1, 0, 1] { #expect(try newest(3, before) == [], "\(before)") }
        for before in [11, Int(Int32.max), Int(Int32.max) + 1, Int.max] { #expect(try newest(3, before) == [8, 9, 10], "\(before)") }
        for limit in [0, -1, Int.min] { #expect(try newest(limit, nil) == [], "\(limit)") }
        #expect(try newest(Int.max, nil) == Array(1...10))
        #expect(try store.messages(conversationID: "missing", newest: 5, before: nil).isEmpty)
    }

    @Test(arguments: StoreBackend.allCases)
    func aConversationsSummaryIsTheOneItsListShows(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice")
        try store.insertToken(alice)
        var first = turn("c1", owner: alice.id, starts: true, "first question", at: 1_000)
        first.settings = ConversationSettings(title: "Trip")
        try store.commitTurn(first)
        var later = turn("c1", owner: alice.id, starts: false, "second", at: 2_000)
        later.model = "model-2"
        try store.commitTurn(later)

        let summary = try #require(try store.conversationSummary(id: "c1", owner: alice.id))
        #expect(summary.messageCount == 4)
        #expect(summary.firstPrompt == "first question")
        #expect(summary.lastModel == "model-2")
        #expect(summary.conversation.settings.title == "Trip")
        #expect(summary.conversation.updatedAt == .at(2_000))
        #expect(try store.conversations(owner: alice.id, limit: 5, after: nil) == [summary])
        #expect(try store.conversationSummary(id: "c1", owner: "someone-else") == nil)
        #expect(try store.conversationSummary(id: "missing", owner: alice.id) == nil)
        // Imported with a system message first: no first prompt.
        let imported = Conversation(id: "c2", owner: alice.id, createdAt: .at(500), updatedAt: .at(500))
        try store.importConversation(imported, messages: [StoredMessage(sequence: 1, role: .system, content: "be brief", createdAt: .at(500))])
        #expect(try store.conversationSummary(id: "c2", owner: alice.id) == ConversationSummary(conversation: imported, messageCount: 1, firstPrompt: nil, lastModel: nil))
    }

    @Test(arguments: StoreBackend.allCases)
    func textSurvivesExactly(backend: StoreBackend) throws {
        let store = try backend.make().store
        let owner = makeToken("alice")
        try store.insertToken(owner)
        let text = "ünïcødé ✓ 🧪 \"quotes\" 'single' ; DROP TABLE messages; --\n\ttabs\u{0}nul" + String(repeating: "long ", count: 20_000)
        try store.commitTurn(turn("c1", owner: owner.id, starts: true, text))
        #expect(try store.messages(conversationID: "c1").first?.content == text)
    }

    /// The model name is the upstream's: a U+0000 in it must not fail the commit of a turn the
    /// model was already paid for (PostgreSQL's TEXT refuses it).
    @Test(arguments: StoreBackend.allCases)
    func aModelNameWithUPlus0000IsStored(backend: StoreBackend) throws {
        let store = try backend.make().store
        let owner = makeToken("alice")
        try store.insertToken(owner)
        var first = turn("c1", owner: owner.id, starts: true, "hi")
        first.model = "gpt\u{0}x"
        try store.commitTurn(first)
        let model = try #require(try store.messages(conversationID: "c1").last?.model)
        #expect(model.hasPrefix("gpt") && model.hasSuffix("x"))
    }

    /// A page of messages stops at its byte budget (content and model, in UTF-8), though never
    /// before its newest message.
    @Test(arguments: StoreBackend.allCases)
    func theNewestMessagesStopAtTheirByteBudget(backend: StoreBackend) throws {
        let store = try backend.make().store
        let owner = makeToken("alice")
        try store.insertToken(owner)
        // Prompts of 1,000 bytes ("é" takes 2) and answers of "echo: " + the prompt, model "test-model" (10 bytes).
        for index in 0..<4 {
            let prompt = String(repeating: "é", count: 500)
            try store.commitTurn(turn("c1", owner: owner.id, starts: index == 0, prompt))
        }
        let sizes = try store.messages(conversationID: "c1").map(\.textBytes)
        #expect(sizes == [1_000, 1_016, 1_000, 1_016, 1_000, 1_016, 1_000, 1_016])
        let newest = { (limit: Int, before: Int?, bytes: Int) in
            try store.messages(conversationID: "c1", newest: limit, before: before, maxBytes: bytes).map(\.sequence)
        }
        #expect(try newest(10, nil, 3_032) == [6, 7, 8])
        #expect(try newest(10, nil, 3_031) == [7, 8])
        #expect(try newest(10, nil, 1) == [8], "the newest message comes whatever its size")
        #expect(try newest(2, nil, .max) == [7, 8])
        #expect(try newest(10, 7, 2_016) == [5, 6])
        #expect(try newest(10, nil, 0) == [8])
        #expect(try newest(0, nil, .max).isEmpty)
    }

    @Test(arguments: StoreBackend.allCases)
    func aTurnOnAMissingOrForeignConversationStoresNothing(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice")
        let bob = makeToken("bob")
        try store.insertToken(alice)
        try store.insertToken(bob)
        #expect(throws: StoreError.conversationNotFound("nope")) {
            try store.commitTurn(turn("nope", owner: alice.id, starts: false, "x"))
        }
        #expect(try store.messages(conversationID: "nope").isEmpty)

        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "mine"))
        #expect(throws: StoreError.conversationNotFound("c1")) {
            try store.commitTurn(turn("c1", owner: bob.id, starts: false, "theirs"))
        }
        #expect(throws: StoreError.self) { try store.commitTurn(turn("c1", owner: bob.id, starts: true, "taking over")) }
        #expect(try store.messages(conversationID: "c1").count == 2)
        #expect(try store.conversation(id: "c1", owner: alice.id)?.owner == alice.id)
    }

    /// `commitTurn(_:completion:)`: each turn is settled once, stored before its completion
    /// says so, and a failure stores nothing; many handed over at once are all kept.
    @Test(arguments: StoreBackend.allCases)
    func turnsCommittedWithoutWaitingAreSettledOnceEach(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice")
        try store.insertToken(alice)
        let outcomes = Outcomes()
        let count = 40
        for index in 0..<count {
            store.commitTurn(turn("c\(index)", owner: alice.id, starts: true, "turn \(index)")) { result in
                // Stored before it is reported.
                let stored = (try? store.messages(conversationID: "c\(index)").count) ?? -1
                outcomes.add(index, result, stored: stored)
            }
        }
        store.commitTurn(turn("missing", owner: alice.id, starts: false, "x")) { result in
            outcomes.add(-1, result, stored: (try? store.messages(conversationID: "missing").count) ?? -1)
        }
        try outcomes.wait(for: count + 1)

        let settled = outcomes.all
        #expect(settled.count == count + 1, "each turn is settled once")
        for index in 0..<count {
            let outcome = try #require(settled[index])
            #expect(outcome.failure == nil, "turn \(index): \(String(describing: outcome.failure))")
            #expect(outcome.stored == 2, "turn \(index) was reported before it was stored")
        }
        let missing = try #require(settled[-1])
        #expect(missing.failure as? StoreError == .conversationNotFound("missing"))
        #expect(missing.stored == 0)
        #expect(try store.conversations(owner: alice.id, limit: 100, after: nil).count == count)
    }

    // MARK: Ownership and deletes

    @Test(arguments: StoreBackend.allCases)
    func aConversationIsInvisibleToOtherOwners(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice")
        let bob = makeToken("bob")
        try store.insertToken(alice)
        try store.insertToken(bob)
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "secret"))
        #expect(try store.conversation(id: "c1", owner: bob.id) == nil)
        #expect(try store.conversation(id: "zzz", owner: bob.id) == nil)
        #expect(try store.deleteConversation(id: "c1", owner: bob.id) == false)
        #expect(try store.messages(conversationID: "c1").count == 2)
    }

    @Test(arguments: StoreBackend.allCases)
    func deletingRemovesTheConversationAndItsMessagesForGood(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let alice = makeToken("alice")
        try store.insertToken(alice)
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "one"))
        try store.commitTurn(turn("c2", owner: alice.id, starts: true, "two"))
        #expect(try store.deleteConversation(id: "c1", owner: alice.id))
        #expect(try store.deleteConversation(id: "c1", owner: alice.id) == false)
        let other = try reopen()
        #expect(try other.conversation(id: "c1", owner: alice.id) == nil)
        #expect(try other.messages(conversationID: "c1").isEmpty)
        #expect(try other.messages(conversationID: "c2").count == 2)
        // The id is free again.
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "anew"))
        #expect(try store.messages(conversationID: "c1").map(\.sequence) == [1, 2])
    }

    // MARK: Serialised turns

    @Test(arguments: StoreBackend.allCases)
    func concurrentTurnsUnderTheLockAreAllKeptInOrder(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let alice = makeToken("alice")
        try store.insertToken(alice)
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "start"))
        // Two handles, as two processes would have.
        let handles = [store, try reopen()]
        let turns = 20
        let seen = LockedCounts()
        DispatchQueue.concurrentPerform(iterations: turns) { index in
            let handle = handles[index % 2]
            do {
                try handle.withTurnLock(conversationID: "c1", timeout: 30) {
                    // What /ask does: read the history, answer, store the turn. Nobody else may slip in.
                    let before = try handle.messages(conversationID: "c1").count
                    usleep(2_000)
                    try handle.commitTurn(turn("c1", owner: alice.id, starts: false, "turn \(index)"))
                    seen.record(before)
                }
            } catch {
                seen.fail("\(error)")
            }
        }
        #expect(seen.failures.isEmpty, "\(seen.failures)")
        let messages = try store.messages(conversationID: "c1")
        #expect(messages.count == 2 + 2 * turns)
        #expect(messages.map(\.sequence) == Array(1...(2 + 2 * turns)))
        // Each turn saw every turn before it: the history lengths are 2, 4, 6, ... each once.
        #expect(seen.counts.sorted() == stride(from: 2, to: 2 + 2 * turns, by: 2).map { $0 })
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentTurnsWithoutTheLockStillTakeTheNextNumbers(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let alice = makeToken("alice")
        try store.insertToken(alice)
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "start"))
        let handles = [store, try reopen()]
        let turns = 40
        let outcomes = LockedCounts()
        DispatchQueue.concurrentPerform(iterations: turns) { index in
            do {
                try handles[index % 2].commitTurn(turn("c1", owner: alice.id, starts: false, "turn \(index)"))
            } catch {
                outcomes.fail("\(index): \(error)")
            }
        }
        #expect(outcomes.failures.isEmpty, "\(outcomes.failures)")
        let messages = try store.messages(conversationID: "c1")
        #expect(messages.map(\.sequence) == Array(1...(2 + 2 * turns)))
        // Each prompt is followed by its own answer.
        for pair in stride(from: 0, to: messages.count, by: 2) {
            #expect(messages[pair + 1].content == "echo: \(messages[pair].content)")
        }
        #expect(Set(messages.map(\.content)).count == messages.count)
    }

    @Test(arguments: StoreBackend.allCases)
    func turnsCommittedAtOnceStandOrFallAlone(backend: StoreBackend) throws {
        let (store, _) = try backend.make()
        let alice = makeToken("alice")
        try store.insertToken(alice)
        // SQLite commits turns arriving together in one transaction: a failing turn among them
        // (a conversation that does not exist) must fail alone and leave no trace.
        let outcomes = LockedCounts()
        DispatchQueue.concurrentPerform(iterations: 200) { index in
            let failing = index % 7 == 3
            let id = failing ? "missing-\(index)" : "c\(index)"
            do {
                try store.commitTurn(turn(id, owner: alice.id, starts: !failing, "turn \(index)"))
                outcomes.record(failing ? -index : index)
            } catch StoreError.conversationNotFound(let missing) where failing && missing == id {
                outcomes.record(index)
            } catch {
                outcomes.fail("\(index): \(error)")
            }
        }
        #expect(outcomes.failures.isEmpty, "\(outcomes.failures)")
        #expect(outcomes.counts.sorted() == Array(0..<200))
        for index in 0..<200 {
            let messages = try store.messages(conversationID: index % 7 == 3 ? "missing-\(index)" : "c\(index)")
            #expect(messages.map(\.content) == (index % 7 == 3 ? [] : ["turn \(index)", "echo: turn \(index)"]))
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func conversationsAreListedNewestFirstInStablePages(backend: StoreBackend) throws {
        let (store, _) = try backend.make()
        let alice = makeToken("alice")
        let bob = makeToken("bob")
        try store.insertToken(alice)
        try store.insertToken(bob)
        // Seven of Alice's, two in the same millisecond; one of Bob's.
        for (index, milliseconds) in [1_000, 2_000, 3_000, 3_000, 4_000, 5_000, 6_000].enumerated() {
            try store.commitTurn(turn("a\(index)", owner: alice.id, starts: true, "first \(index)", at: Int64(milliseconds)))
        }
        try store.commitTurn(turn("a0", owner: alice.id, starts: false, "second", at: 9_000))
        try store.commitTurn(turn("b0", owner: bob.id, starts: true, "bob's", at: 7_000))

        var pages: [[ConversationSummary]] = []
        var cursor: ConversationCursor?
        repeat {
            let page = try store.conversations(owner: alice.id, limit: 3, after: cursor)
            pages.append(page)
            cursor = page.last.map { ConversationCursor(createdAt: $0.conversation.createdAt, id: $0.conversation.id) }
            // Newer conversations arriving meanwhile do not move the pages still to come.
            try store.commitTurn(turn("new\(pages.count)", owner: alice.id, starts: true, "late", at: 10_000 + Int64(pages.count)))
        } while pages.last?.count == 3
        #expect(pages.map(\.count) == [3, 3, 1])
        #expect(pages.flatMap { $0.map(\.conversation.id) } == ["a6", "a5", "a4", "a3", "a2", "a1", "a0"])
        let oldest = try #require(pages.last?.first)
        #expect(oldest.messageCount == 4)
        #expect(oldest.firstPrompt == "first 0")
        #expect(oldest.lastModel == "test-model")
        #expect(oldest.conversation.updatedAt == .at(9_000))
        #expect(try store.conversations(owner: bob.id, limit: 10, after: nil).map(\.conversation.id) == ["b0"])
        #expect(try store.conversations(owner: "nobody", limit: 10, after: nil).isEmpty)
    }

    /// A cursor's date comes from a client: any Double reaches the store, which answers without trapping.
    @Test(arguments: StoreBackend.allCases)
    func aCursorAtAnyDateListsWithoutTrapping(backend: StoreBackend) throws {
        let (store, _) = try backend.make()
        let alice = makeToken("alice")
        try store.insertToken(alice)
        try store.commitTurn(turn("a0", owner: alice.id, starts: true, "first", at: 1_000))
        let extremes = [9_223_372_036_854_775.807, 1e308, -1e308, .infinity, -.infinity, .nan, 0, -1]
        for seconds in extremes {
            let cursor = ConversationCursor(createdAt: Date(timeIntervalSince1970: seconds), id: "zzz")
            let page = try store.conversations(owner: alice.id, limit: 5, after: cursor)
            #expect(page.map(\.conversation.id) == (seconds > 1 ? ["a0"] : []), "\(seconds)")
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func usageCountsEveryCommittedTurnByDayAndSurvivesDeletes(backend: StoreBackend) throws {
        let (store, _) = try backend.make()
        let alice = makeToken("alice")
        let bob = makeToken("bob")
        try store.insertToken(alice)
        try store.insertToken(bob)
        let day1: Int64 = 1_795_700_001_000      // 2026-11-26 (UTC)
        let day2: Int64 = day1 + 86_400_000
        try store.commitTurn(turn("a1", owner: alice.id, starts: true, "one", at: day1))         // usage 3 + 5
        try store.commitTurn(turn("a1", owner: alice.id, starts: false, "two", at: day2))
        try store.commitTurn(turn("a2", owner: alice.id, starts: true, "three", at: day2))
        var unbilled = turn("a3", owner: alice.id, starts: true, "no usage", at: day2)
        unbilled.usage = nil
        try store.commitTurn(unbilled)
        try store.commitTurn(turn("b1", owner: bob.id, starts: true, "bob's", at: day2))
        // A turn that fails counts for nothing.
        #expect(throws: StoreError.self) { try store.commitTurn(turn("missing", owner: alice.id, starts: false, "x", at: day2)) }

        let today = Date.at(day2).usageDay
        #expect(Date.at(day1).usageDay == "2026-11-26")
        let (day, total) = try store.usage(owner: alice.id, day: today)
        #expect(day == UsageTotals(requests: 3, promptTokens: 6, completionTokens: 10))
        #expect(total == UsageTotals(requests: 4, promptTokens: 9, completionTokens: 15))
        #expect(try store.usage(owner: bob.id, day: today).total == UsageTotals(requests: 1, promptTokens: 3, completionTokens: 5))
        #expect(try store.usage(owner: "nobody", day: today).total == UsageTotals())
        // Deleting the conversations does not take the usage back.
        _ = try store.deleteAllConversations(owner: alice.id)
        #expect(try store.usage(owner: alice.id, day: today).total == total)
    }

    /// Usage of an answer that was not stored adds to the owner's day like a turn's.
    @Test(arguments: StoreBackend.allCases)
    func usageOfAnUnstoredAnswerCounts(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let alice = makeToken("alice")
        try store.insertToken(alice)
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "one"))
        let usage = TokenUsage(promptTokens: 7, completionTokens: 11, totalTokens: 18)
        try store.recordUsage(owner: alice.id, usage: usage, date: .at(1_795_700_001_000))
        try reopen().recordUsage(owner: alice.id, usage: usage, date: .at(1_795_700_002_000))
        let day = Date.at(1_795_700_001_000).usageDay
        let counted = try store.usage(owner: alice.id, day: day)
        #expect(counted.day.requests == 3)
        #expect(counted.day.promptTokens == 3 + 7 + 7)
        #expect(counted.day.completionTokens == 5 + 11 + 11)
        #expect(counted.total.requests == 3)
        #expect(try store.usage(owner: "nobody", day: day).total.requests == 0)
    }

    @Test(arguments: StoreBackend.allCases)
    func settingsStartWithTheConversationAndChangeOnlyWhereAsked(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let alice = makeToken("alice")
        try store.insertToken(alice)
        var first = turn("c1", owner: alice.id, starts: true, "hi")
        first.settings = ConversationSettings(title: "Trip", system: "Be brief.\u{0}", model: "m1")
        try store.commitTurn(first)
        var later = turn("c1", owner: alice.id, starts: false, "again")
        later.settings = ConversationSettings(title: "ignored on a later turn")
        try store.commitTurn(later)
        #expect(try store.conversation(id: "c1", owner: alice.id)?.settings == ConversationSettings(title: "Trip", system: "Be brief.\u{0}", model: "m1"))

        let changed = try store.updateConversation(id: "c1", owner: alice.id, change: ConversationSettingsChange(title: "Paris", model: .some(nil)))
        #expect(changed?.settings == ConversationSettings(title: "Paris", system: "Be brief.\u{0}", model: nil))
        #expect(changed?.updatedAt == .at(1_795_700_001_000), "settings are not a turn")
        #expect(try reopen().conversation(id: "c1", owner: alice.id)?.settings == changed?.settings)
        #expect(try store.conversations(owner: alice.id, limit: 1, after: nil).first?.conversation.settings.title == "Paris")
        #expect(try store.updateConversation(id: "c1", owner: "someone-else", change: ConversationSettingsChange(title: "x")) == nil)
        #expect(try store.updateConversation(id: "nope", owner: alice.id, change: ConversationSettingsChange(title: "x")) == nil)
        #expect(try store.conversation(id: "c1", owner: alice.id)?.settings.title == "Paris")
    }

    @Test(arguments: StoreBackend.allCases)
    func deletingAllTakesOnlyTheOwners(backend: StoreBackend) throws {
        let (store, _) = try backend.make()
        let alice = makeToken("alice")
        let bob = makeToken("bob")
        try store.insertToken(alice)
        try store.insertToken(bob)
        try store.commitTurn(turn("a1", owner: alice.id, starts: true, "one"))
        try store.commitTurn(turn("a2", owner: alice.id, starts: true, "two"))
        try store.commitTurn(turn("b1", owner: bob.id, starts: true, "bob's"))
        #expect(try store.deleteAllConversations(owner: alice.id) == 2)
        #expect(try store.conversations(owner: alice.id, limit: 10, after: nil).isEmpty)
        #expect(try store.messages(conversationID: "a1").isEmpty)
        #expect(try store.conversation(id: "b1", owner: bob.id) != nil)
        #expect(try store.messages(conversationID: "b1").count == 2)
        #expect(try store.deleteAllConversations(owner: alice.id) == 0)
    }

    @Test(arguments: StoreBackend.allCases)
    func aTurnLockWaitTimesOut(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let other = try reopen()
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let holder = Thread {
            try? store.withTurnLock(conversationID: "c1", timeout: 5) {
                entered.signal()
                release.wait()
            }
        }
        holder.start()
        entered.wait()
        let started = Date()
        #expect(throws: StoreError.turnLockTimedOut("c1")) {
            try other.withTurnLock(conversationID: "c1", timeout: 0.2) {}
        }
        #expect(Date().timeIntervalSince(started) < 2)
        // Another conversation is not blocked.
        #expect(try other.withTurnLock(conversationID: "c2", timeout: 0.2) { 42 } == 42)
        release.signal()
        // Released: the lock can be taken again.
        try waitFor { (try? other.withTurnLock(conversationID: "c1", timeout: 0.1) { true }) == true }
    }

    /// A turn lock holds for as long as its turn runs, past its lease, and a holder that is
    /// gone (its store closed without giving the lock back, as a process that died) blocks the
    /// conversation only until the lease runs out.
    @Test(arguments: [StoreBackend.sqlite, .postgres])
    func aTurnLockIsRenewedWhileHeldAndExpiresOnceItsHolderIsGone(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make(leaseSeconds: 3)
        let other = try reopen()
        let lock = try store.acquireTurnLock(conversationID: "c1", timeout: 1)
        Thread.sleep(forTimeInterval: 7)
        #expect(throws: StoreError.turnLockTimedOut("c1"), "held 7 s, past its 3 s lease") {
            try other.acquireTurnLock(conversationID: "c1", timeout: 0.1)
        }
        store.releaseTurnLock(lock)
        _ = try other.acquireTurnLock(conversationID: "c1", timeout: 1)

        var gone: (any ConversationStore)? = try reopen()
        _ = try gone?.acquireTurnLock(conversationID: "c2", timeout: 1)
        gone = nil
        let started = Date()
        _ = try other.acquireTurnLock(conversationID: "c2", timeout: 30)
        #expect(Date().timeIntervalSince(started) < 15, "the lease of a holder that is gone ran out")
    }

    /// A turn is stored under the lock it ran under only while that lock is still its own:
    /// once another holder has the conversation's lock, the first holder's turn is refused.
    @Test(arguments: [StoreBackend.sqlite, .postgres])
    func aTurnWhoseLockWasTakenOverIsNotStored(backend: StoreBackend) throws {
        let (store, reopen) = try backend.make()
        let other = try reopen()
        let alice = makeToken("alice")
        try store.insertToken(alice)
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "first"))
        let lost = try store.acquireTurnLock(conversationID: "c1", timeout: 1)
        store.releaseTurnLock(lost)  // as if its lease had run out
        let taken = try other.acquireTurnLock(conversationID: "c1", timeout: 1)

        var late = turn("c1", owner: alice.id, starts: false, "late")
        late.lock = lost
        #expect(throws: StoreError.turnLockLost("c1")) { try store.commitTurn(late) }
        var current = turn("c1", owner: alice.id, starts: false, "current")
        current.lock = taken
        try other.commitTurn(current)
        #expect(try store.messages(conversationID: "c1").map(\.content) == ["first", "echo: first", "current", "echo: current"])
        other.releaseTurnLock(taken)
    }

    // MARK: Availability and moving stores

    @Test(arguments: StoreBackend.allCases)
    func aWorkingStoreIsAvailable(backend: StoreBackend) throws {
        try backend.make().store.checkAvailable()
    }

    @Test(arguments: StoreBackend.allCases)
    func allConversationsListsEveryOwnersOldestFirst(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice")
        let bob = makeToken("bob")
        try store.insertToken(alice)
        try store.insertToken(bob)
        try store.commitTurn(turn("c3", owner: alice.id, starts: true, "third", at: 2_000))
        try store.commitTurn(turn("c2", owner: bob.id, starts: true, "second", at: 2_000))
        try store.commitTurn(turn("c1", owner: alice.id, starts: true, "first", at: 1_000))
        try store.commitTurn(turn("c1", owner: alice.id, starts: false, "later", at: 3_000))
        let all = try store.allConversations()
        #expect(all.map(\.id) == ["c1", "c2", "c3"])
        #expect(all.map(\.owner) == [alice.id, bob.id, alice.id])
        #expect(all[0].updatedAt == .at(3_000))
    }

    @Test(arguments: StoreBackend.allCases)
    func importedTokensKeepEverythingAndReplaceTheSameID(backend: StoreBackend) throws {
        let store = try backend.make().store
        var alice = makeToken("alice", created: 1_000)
        alice.lastUsedAt = .at(2_000)
        alice.expiresAt = .at(9_000)
        alice.revokedAt = .at(3_000)
        try store.importToken(alice)
        try store.importToken(alice)
        #expect(try store.allTokens() == [alice])
        alice.name = "alice-renamed"
        alice.revokedAt = nil
        try store.importToken(alice)
        #expect(try store.token(hash: alice.hash) == alice)
        #expect(try store.allTokens() == [alice])

        var sameName = makeToken("bob")
        sameName.name = alice.name
        #expect(throws: StoreError.self) { try store.importToken(sameName) }
        var sameHash = makeToken("carol")
        sameHash.hash = alice.hash
        #expect(throws: StoreError.self) { try store.importToken(sameHash) }
        #expect(try store.allTokens() == [alice])
    }

    @Test(arguments: StoreBackend.allCases)
    func importedConversationsKeepEverythingAndReplaceTheSameID(backend: StoreBackend) throws {
        let store = try backend.make().store
        let alice = makeToken("alice")
        try store.importToken(alice)
        let conversation = Conversation(id: "c1", owner: alice.id, createdAt: .at(5_000), updatedAt: .at(6_000))
        let messages = [
            StoredMessage(sequence: 1, role: .system, content: "be brief", createdAt: .at(5_000)),
            StoredMessage(sequence: 2, role: .user, content: "hi \u{0} there", createdAt: .at(5_000)),
            StoredMessage(
                sequence: 3, role: .assistant, content: "hello", model: "m",
                usage: TokenUsage(promptTokens: 1, completionTokens: 2, totalTokens: 3), createdAt: .at(6_000)
            ),
        ]
        let versions = [3: [
            MessageVersion(content: "first", model: "m", usage: TokenUsage(promptTokens: 1, completionTokens: 1, totalTokens: 2), createdAt: .at(5_500)),
            MessageVersion(content: "second", createdAt: .at(5_800)),
        ]]
        // Copying twice gives the same result.
        try store.importConversation(conversation, messages: messages, versions: versions)
        try store.importConversation(conversation, messages: messages, versions: versions)
        #expect(try store.conversation(id: "c1", owner: alice.id) == conversation)
        #expect(try store.messages(conversationID: "c1") == messages)
        #expect(try store.allConversations() == [conversation])
        #expect(try store.previousVersions(conversationID: "c1", sequences: 1...3) == versions)

        var replaced = conversation
        replaced.updatedAt = .at(7_000)
        try store.importConversation(replaced, messages: Array(messages.prefix(1)))
        #expect(try store.conversation(id: "c1", owner: alice.id) == replaced)
        #expect(try store.messages(conversationID: "c1") == Array(messages.prefix(1)))
        #expect(try store.previousVersions(conversationID: "c1", sequences: 1...3).isEmpty, "the replaced conversation's versions went with it")
        // Turns go on after the imported messages.
        try store.commitTurn(turn("c1", owner: alice.id, starts: false, "more", at: 8_000))
        #expect(try store.messages(conversationID: "c1").map(\.sequence) == [1, 2, 3])
    }
}

final class LockedCounts: @unchecked Sendable {
    private let lock = NSLock()
    private var _counts: [Int] = []
    private var _failures: [String] = []

    func record(_ count: Int) { lock.withLock { _counts.append(count) } }
    func fail(_ message: String) { lock.withLock { _failures.append(message) } }
    var counts: [Int] { lock.withLock { _counts } }
    var failures: [String] { lock.withLock { _failures } }
}

func waitFor(seconds: Double = 30, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return }
        usleep(10_000)
    }
    Issue.record("condition not met within \(seconds) s")
}

/// Completions of turns committed without waiting, gathered from whatever thread reports them.
private final class Outcomes: @unchecked Sendable {
    struct Outcome {
        let failure: (any Error)?
        let stored: Int
    }

    private let lock = NSCondition()
    private var outcomes: [Int: Outcome] = [:]
    private var reports = 0

    func add(_ key: Int, _ result: Result<Void, any Error>, stored: Int) {
        lock.lock()
        defer { lock.unlock() }
        reports += 1
        if case .failure(let error) = result {
            outcomes[key] = Outcome(failure: error, stored: stored)
        } else {
            outcomes[key] = Outcome(failure: nil, stored: stored)
        }
        lock.broadcast()
    }

    func wait(for count: Int) throws {
        lock.lock()
        defer { lock.unlock() }
        let deadline = Date().addingTimeInterval(10)
        while reports < count {
            guard lock.wait(until: deadline) else { break }
        }
        #expect(reports == count, "\(reports) of \(count) turns settled within 10 s")
    }

    var all: [Int: Outcome] {
        lock.lock()
        defer { lock.unlock() }
        return outcomes
    }
}
