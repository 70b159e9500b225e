import FoundationEssentials
import Logging
import Platform
import Store

/// The usage of calls that store nothing and count toward no limit (a stateless chat completion
/// of a token without counted limits), gathered in memory and written to the store in one
/// statement per owner and day, at most `interval` after it was added, instead of one write
/// transaction per call.
///
/// Nothing that admits a request reads these rows (a token with a daily quota has a ticket, and
/// its usage is written at once), so the delay changes only what `/usage` of another process
/// shows in the meantime; this process's `/usage` flushes first. A write that fails is kept and
/// tried again. `flush()` at shutdown writes what is left.
public final class UsageLedger: @unchecked Sendable {
    private struct Key: Hashable {
        let owner: String
        let day: String
    }

    private let store: any ConversationStore
    private let interval: Double
    private let logger: Logger
    /// Guards `pending` and `flusherStarted`; `added` is signalled under it.
    private let lock = Lock()
    private let added = Condition()
    private var pending: [Key: UsageTotals] = [:]
    private var flusherStarted = false
    /// Held across a whole flush, so that a flush that returns has written everything added
    /// before it began, including what a concurrent flush had taken.
    private let flushing = Lock()

    /// - Parameter interval: the longest an entry waits before it is written, in seconds.
    public init(store: any ConversationStore, interval: Double = 0.1, logger: Logger = Logger(label: "askd")) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    /// Counts one call of `owner` that used `usage`, on the UTC day of `date`.
    public func add(owner: String, usage: TokenUsage, date: Date) {
        let totals = UsageTotals(requests: 1, promptTokens: usage.promptTokens, completionTokens: usage.completionTokens)
        let startFlusher = lock.withLock {
            if pending.isEmpty { added.signal() }
            pending[Key(owner: owner, day: date.usageDay), default: UsageTotals()].add(totals)
            defer { flusherStarted = true }
            return !flusherStarted
        }
        if startFlusher { startFlusherThread() }
    }

    /// Writes everything added so far; entries the store refuses stay for the next flush.
    /// - Returns: false when some could not be written.
    @discardableResult
    public func flush() -> Bool {
        flushing.withLock {
            let taken = lock.withLock {
                defer { pending.removeAll(keepingCapacity: true) }
                return pending
            }
            var failed: [Key: UsageTotals] = [:]
            for (key, totals) in taken {
                do {
                    try store.recordUsage(owner: key.owner, day: key.day, adding: totals)
                } catch {
                    failed[key] = totals
                    logger.error("usage could not be counted yet; it is kept and tried again", metadata: ["error": "\(error)"])
                }
            }
            guard !failed.isEmpty else { return true }
            lock.withLock {
                for (key, totals) in failed { pending[key, default: UsageTotals()].add(totals) }
            }
            return false
        }
    }

    private func startFlusherThread() {
        do {
            try DetachedThread.startRounds(
                name: "askd-usage", interval: interval,
                waitForWork: { [self] in lock.withLock { while pending.isEmpty { added.wait(lock) } } },
                round: { [self] in flush() }
            )
        } catch {
            // Without the thread, entries wait for the next `/usage` or the shutdown's flush.
            logger.error("the usage thread cannot start; usage is written on /usage and at shutdown", metadata: ["error": "\(error)"])
        }
    }
}

extension UsageTotals {
    mutating func add(_ other: UsageTotals) {
        requests += other.requests
        promptTokens += other.promptTokens
        completionTokens += other.completionTokens
    }
}
