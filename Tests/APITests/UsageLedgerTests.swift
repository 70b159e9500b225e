@testable import API
import Foundation
import Platform
import Store
import Testing

@Suite struct UsageLedgerTests {
    let day = Date(timeIntervalSince1970: 1_795_700_000)
    let usage = TokenUsage(promptTokens: 9, completionTokens: 8, totalTokens: 17)

    @Test func callsAreSummedPerOwnerAndWrittenByFlush() throws {
        let store = MemoryStore()
        let ledger = UsageLedger(store: store, interval: 60)
        for _ in 0..<3 { ledger.add(owner: "alice", usage: usage, date: day) }
        ledger.add(owner: "bob", usage: usage, date: day)
        #expect(try store.usage(owner: "alice", day: day.usageDay).day.requests == 0, "nothing is written before the interval or a flush")
        #expect(ledger.flush())
        #expect(try store.usage(owner: "alice", day: day.usageDay).day == UsageTotals(requests: 3, promptTokens: 27, completionTokens: 24))
        #expect(try store.usage(owner: "bob", day: day.usageDay).day == UsageTotals(requests: 1, promptTokens: 9, completionTokens: 8))
        #expect(ledger.flush())
        #expect(try store.usage(owner: "alice", day: day.usageDay).day.requests == 3, "a second flush writes nothing again")
    }

    @Test func itsThreadWritesWithinTheInterval() throws {
        let store = MemoryStore()
        let ledger = UsageLedger(store: store, interval: 0.05)
        ledger.add(owner: "alice", usage: usage, date: day)
        let deadline = Deadline(after: 5)
        while try store.usage(owner: "alice", day: day.usageDay).day.requests == 0, !deadline.hasPassed { usleep(5_000) }
        #expect(try store.usage(owner: "alice", day: day.usageDay).day.requests == 1)
        ledger.add(owner: "alice", usage: usage, date: day)
        let again = Deadline(after: 5)
        while try store.usage(owner: "alice", day: day.usageDay).day.requests == 1, !again.hasPassed { usleep(5_000) }
        #expect(try store.usage(owner: "alice", day: day.usageDay).day.requests == 2, "the thread wakes for usage added after its first flush")
    }

    @Test func usageTheStoreRefusesIsKeptForTheNextFlush() throws {
        let store = CheckCountingStore()
        let ledger = UsageLedger(store: store, interval: 60)
        store.refusesUsage.withLock { $0 = true }
        ledger.add(owner: "alice", usage: usage, date: day)
        ledger.add(owner: "alice", usage: usage, date: day)
        #expect(!ledger.flush())
        store.refusesUsage.withLock { $0 = false }
        ledger.add(owner: "alice", usage: usage, date: day)
        #expect(ledger.flush())
        #expect(try store.usage(owner: "alice", day: day.usageDay).day == UsageTotals(requests: 3, promptTokens: 27, completionTokens: 24))
    }
}
