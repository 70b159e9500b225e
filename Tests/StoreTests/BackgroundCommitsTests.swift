import Foundation
@testable import SQLiteStore
import Store
import Testing

struct BackgroundCommitsTests {
    /// While a commit runs, turns queue; the next round takes them together, at most
    /// `batchLimit` at a time, and each turn is settled once, in order.
    @Test func queuedTurnsAreCommittedTogetherUpToTheLimit() throws {
        let recorder = BatchRecorder()
        let commits = BackgroundCommits { turns in recorder.commit(turns) }
        defer { commits.stop() }
        let settled = Settled()
        recorder.holdNext()
        commits.submit(makeTurn(0)) { settled.add(0, $0) }
        try recorder.waitForBatches(1)
        let count = BackgroundCommits.batchLimit + 10
        for index in 1...count { commits.submit(makeTurn(index)) { settled.add(index, $0) } }
        recorder.release()
        try settled.wait(for: count + 1)

        #expect(recorder.sizes == [1, BackgroundCommits.batchLimit, 10])
        #expect(recorder.committed == (0...count).map { "c\($0)" })
        #expect(settled.failures.isEmpty)
    }

    /// A round whose commit fails reports the failure to each of its turns.
    @Test func aFailedRoundFailsEachOfItsTurns() throws {
        let commits = BackgroundCommits { turns in turns.map { _ in .failure(StoreError.unavailable("disk full")) } }
        defer { commits.stop() }
        let settled = Settled()
        for index in 0..<3 { commits.submit(makeTurn(index)) { settled.add(index, $0) } }
        try settled.wait(for: 3)
        #expect(settled.failures.count == 3)
    }

    /// A stop settles what is queued, and refuses what comes after it.
    @Test func aStopSettlesTheQueueAndRefusesLaterTurns() throws {
        let recorder = BatchRecorder()
        let commits = BackgroundCommits { turns in recorder.commit(turns) }
        let settled = Settled()
        recorder.holdNext()
        commits.submit(makeTurn(0)) { settled.add(0, $0) }
        try recorder.waitForBatches(1)
        commits.submit(makeTurn(1)) { settled.add(1, $0) }
        commits.stop()
        recorder.release()
        try settled.wait(for: 2)
        #expect(settled.failures.isEmpty)
        #expect(recorder.committed == ["c0", "c1"])

        commits.submit(makeTurn(2)) { settled.add(2, $0) }
        #expect(settled.failures[2] as? StoreError == .unavailable("the store is closed"), "refused at once")
    }
}

private func makeTurn(_ index: Int) -> Turn {
    Turn(
        conversationID: "c\(index)", owner: "t", startsConversation: true, prompt: "p", answer: "a", model: "m", usage: nil,
        date: Date(timeIntervalSince1970: 0), settings: ConversationSettings()
    )
}

/// A commit that records its batches, and can hold the next one until released.
private final class BatchRecorder: @unchecked Sendable {
    private let condition = NSCondition()
    private var held = false
    private(set) var batches: [[String]] = []

    var sizes: [Int] { condition.withLock { batches.map(\.count) } }
    var committed: [String] { condition.withLock { batches.flatMap { $0 } } }

    func holdNext() {
        condition.withLock { held = true }
    }

    func release() {
        condition.withLock {
            held = false
            condition.broadcast()
        }
    }

    func commit(_ turns: [Turn]) -> [Result<Void, any Error>] {
        condition.withLock {
            batches.append(turns.map(\.conversationID))
            condition.broadcast()
            while held { condition.wait() }
        }
        return turns.map { _ in .success(()) }
    }

    func waitForBatches(_ count: Int) throws {
        try condition.withLock {
            let deadline = Date().addingTimeInterval(30)
            while batches.count < count {
                guard condition.wait(until: deadline) else { throw TimedOut() }
            }
        }
    }
}

/// Each turn's outcome, from whatever thread reports it.
private final class Settled: @unchecked Sendable {
    private let condition = NSCondition()
    private var outcomes: [Int: Result<Void, any Error>] = [:]
    private var reports = 0

    var failures: [Int: any Error] {
        condition.withLock {
            outcomes.compactMapValues { if case .failure(let error) = $0 { error } else { nil } }
        }
    }

    func add(_ index: Int, _ result: Result<Void, any Error>) {
        condition.withLock {
            reports += 1
            outcomes[index] = result
            condition.broadcast()
        }
    }

    func wait(for count: Int) throws {
        try condition.withLock {
            let deadline = Date().addingTimeInterval(30)
            while reports < count {
                guard condition.wait(until: deadline) else { throw TimedOut() }
            }
            #expect(reports == count, "each turn is settled once")
        }
    }
}

private struct TimedOut: Error {}
