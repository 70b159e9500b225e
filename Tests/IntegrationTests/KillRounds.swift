import Foundation
import Platform
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// askd killed with SIGKILL at a random moment of an `AskLoad`, restarted on the same store, and
/// the store and `/usage` checked after each restart, round after round.
///
/// What must hold after every kill:
/// - SQLite's `PRAGMA integrity_check` is `ok`;
/// - every answer a client received whole (a plain 200, a stream's `done`) is stored as its
///   turn: its prompt, then exactly that text, consecutive in its conversation;
/// - no turn is half stored (`StoredState.halfStoredTurns`);
/// - no lease outlives the kill by more than the lease (and `lateWriteSeconds`), and after the restart a turn on each
///   conversation the kill may have left locked (a lock row, a request in flight, a
///   conversation no client heard of) is answered 200 within the lease and a margin;
/// - `/usage` counts each stored turn once and the answers counted without being stored:
///   requests = stored turns + lost leases (see `run`), and the tokens add up the same way.
struct KillRounds {
    let stack: Stack
    let source: StoredState.Source
    let leaseSeconds: Double
    var clients = 24
    /// A loaded 2-core machine's allowance on top of the lease, for the turns after a restart.
    var marginSeconds = 3.0

    struct Figures: CustomStringConvertible {
        var kills = 0
        var sent = 0
        var answered = 0
        /// Requests in flight at a kill, or sent while askd was down: no answer.
        var unanswered = 0
        var statuses: [Int: Int] = [:]
        var storedTurns = 0
        /// Stored turns whose answer no client received (committed, then the kill).
        var storedUnreceived = 0
        var lockRowsAtKills = 0
        /// The latest end of a lease, in seconds after the kill.
        var latestLeaseEnd = 0.0
        var turnsAfterRestarts = 0
        var slowestTurnAfterRestart = 0.0
        var usageRequests = 0
        var seconds = 0.0

        var description: String {
            "\(kills) kills in \(String(format: "%.1f", seconds)) s: \(sent) requests sent, \(answered) answered whole, "
                + "\(unanswered) unanswered (in flight at a kill or askd down), error statuses \(statuses); \(storedTurns) turns stored, "
                + "\(storedUnreceived) of them never received; \(lockRowsAtKills) lock rows left by the kills, the latest ending "
                + "\(String(format: "%.3f", latestLeaseEnd)) s after its kill; \(turnsAfterRestarts) turns "
                + "on possibly locked conversations after restarts, the slowest \(String(format: "%.2f", slowestTurnAfterRestart)) s; "
                + "/usage requests \(usageRequests)"
        }
    }

    func run(kills: Int) throws -> Figures {
        let started = Date()
        let token = try stack.createToken(name: "load")
        var figures = Figures()
        var received: [Exchange] = []
        var conversations: [String] = []
        // Answers counted but not stored: a 503 saying the turn could not be stored, after its
        // lease was lost (renewals that failed for a whole lease). Clients read to the end and
        // nothing deletes conversations, so no other answer is counted without being stored.
        var lostLeases = 0
        for round in 1...kills {
            let load = AskLoad(port: stack.port, token: token, tag: "r\(round)", conversations: conversations)
            load.start(clients: clients)
            Thread.sleep(forTimeInterval: Double.random(in: 0.3...1.2))
            let killedAt = Date().timeIntervalSince1970
            stack.signalAskd(SIGKILL)
            try load.stop()
            try stack.restartAskd()

            let exchanges = load.exchanges
            figures.kills += 1
            figures.sent += exchanges.count
            for exchange in exchanges {
                switch exchange.outcome {
                case .answered:
                    figures.answered += 1
                    received.append(exchange)
                case .cut:
                    figures.unanswered += 1
                case .failed(let status, let body):
                    figures.statuses[status, default: 0] += 1
                    if status == 503 && body.contains("askd is not available") {
                        figures.unanswered += 1  // nginx: askd died under the request, or was down
                    } else if status == 503 && body.contains("the turn could not be stored") {
                        lostLeases += 1
                    } else {
                        Issue.record("round \(round): \(exchange.prompt) got \(status) \(body)")
                    }
                case .malformed(let what):
                    Issue.record("round \(round): \(exchange.prompt): \(what)")
                }
            }

            let state = try StoredState.read(source)
            try check(state, received: received, lostLeases: lostLeases, token: token, round: round)
            let late = state.locks.filter { $0.expiresAt > killedAt + leaseSeconds + source.lateWriteSeconds }
            try #require(late.isEmpty, "round \(round): leases past the kill + \(leaseSeconds) s: \(late.map { ($0.conversation, $0.expiresAt - killedAt) })")
            figures.lockRowsAtKills += state.locks.filter { $0.expiresAt > killedAt }.count
            figures.latestLeaseEnd = max(figures.latestLeaseEnd, state.locks.map { $0.expiresAt - killedAt }.max() ?? 0)

            // The conversations the kill may have left locked, each asked once, all at once.
            let heardOf = Set(conversations + received.compactMap { $0.answered?.conversationID })
            let suspects = Set(state.locks.map(\.conversation))
                .union(exchanges.filter { $0.answered == nil }.compactMap(\.continued))
                .union(state.conversations.filter { !heardOf.contains($0) })
                .intersection(state.conversations)
            let after = try turns(on: Array(suspects), prompt: "after kill \(round)", token: token)
            received += after.map(\.exchange)
            figures.turnsAfterRestarts += after.count
            figures.slowestTurnAfterRestart = max(figures.slowestTurnAfterRestart, after.map(\.seconds).max() ?? 0)
            conversations = state.conversations
        }

        // Last, every conversation that ever existed takes a turn.
        let all = try StoredState.read(source).conversations
        received += try turns(on: all, prompt: "at the end", token: token).map(\.exchange)
        let final = try StoredState.read(source)
        try check(final, received: received, lostLeases: lostLeases, token: token, round: kills + 1)
        figures.storedTurns = final.assistantMessages.count
        let receivedPrompts = Set(received.map(\.prompt))
        figures.storedUnreceived = final.messages.values.joined().filter { $0.role == "user" && !receivedPrompts.contains($0.content) }.count
        figures.usageRequests = try usage(token: token).requests
        figures.seconds = Date().timeIntervalSince(started)
        return figures
    }

    /// Stops the run at the first round that breaks an invariant: the rounds after it would
    /// only repeat it.
    private func check(_ state: StoredState, received: [Exchange], lostLeases: Int, token: String, round: Int) throws {
        try #require(state.integrity == "ok", "round \(round): integrity_check: \(state.integrity)")
        let half = state.halfStoredTurns()
        try #require(half.isEmpty, "round \(round): half-stored turns: \(half.prefix(10))")
        let missing = state.missing(received)
        try #require(missing.isEmpty, "round \(round): \(missing.count) received answers not stored: \(missing.prefix(10))")
        // Each stored turn counted once, with the usage stored with its answer; each lost lease
        // counted once more (its tokens unknown to the client, so then only the requests).
        let stored = state.assistantMessages
        let usage = try usage(token: token)
        try #require(usage.requests == stored.count + lostLeases,
                "round \(round): /usage counts \(usage.requests) requests; \(stored.count) turns stored, \(lostLeases) leases lost")
        if lostLeases == 0 {
            #expect(usage.promptTokens == stored.map(\.promptTokens).reduce(0, +), "round \(round)")
            #expect(usage.completionTokens == stored.map(\.completionTokens).reduce(0, +), "round \(round)")
        }
    }

    private func usage(token: String) throws -> (requests: Int, promptTokens: Int, completionTokens: Int) {
        let response = try stack.client.get("/usage", headers: [("Authorization", "Bearer \(token)")])
        try #require(response.status == 200, "/usage: \(response.status) \(response.text)")
        let total = try #require(try response.json()["total"] as? [String: Any])
        return (total["requests"] as? Int ?? -1, total["prompt_tokens"] as? Int ?? -1, total["completion_tokens"] as? Int ?? -1)
    }

    /// One plain turn on each conversation, `clients` at a time; each must be a 200 within the
    /// lease and the margin (a conversation the killed askd held waits for its lease to run out).
    private func turns(on conversations: [String], prompt: String, token: String) throws -> [(exchange: Exchange, seconds: Double)] {
        let results = Locked<[(exchange: Exchange, seconds: Double)]>([])
        let next = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        let width = min(clients, conversations.count)
        let port = stack.port
        for _ in 0..<width {
            Thread {
                while true {
                    let index = next.add(1, ordering: .sequentiallyConsistent).oldValue
                    guard index < conversations.count else { break }
                    let text = "\(prompt) \(index)"
                    let started = Date()
                    let outcome = AskLoad.plain(
                        port: port, token: token, body: #"{"prompt":"\#(text)","conversation_id":"\#(conversations[index])"}"#
                    )
                    let exchange = Exchange(prompt: text, streamed: false, continued: conversations[index], outcome: outcome)
                    results.withLock { $0.append((exchange, Date().timeIntervalSince(started))) }
                }
                finished.add(1, ordering: .sequentiallyConsistent)
            }.start()
        }
        try waitUntil("every conversation took its turn", seconds: 60) { finished.load(ordering: .sequentiallyConsistent) == width }
        let done = results.withLock { $0 }
        for (exchange, seconds) in done {
            #expect(exchange.answered?.conversationID == exchange.continued, "\(exchange.prompt): \(exchange.outcome)")
            #expect(seconds < leaseSeconds + marginSeconds, "\(exchange.prompt) on \(exchange.continued ?? ""): \(seconds) s")
        }
        return done
    }
}
