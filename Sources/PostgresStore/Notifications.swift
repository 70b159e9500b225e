#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Platform

/// What other processes tell this one through PostgreSQL, on a connection of this process's
/// own that LISTENs on a thread of its own:
/// - `askd_tokens`, sent after every token change: a generation number for the token rows this
///   process keeps (`TokenCache`). While the connection is not listening (not yet, or lost and
///   not yet back), there is no generation, and readers read the table every time. Each
///   (re)connection starts a new generation, so nothing read before a gap is trusted after it.
/// - `askd_turn_locks`, sent with a conversation's id when its turn lock is released: a waiter
///   here takes it at once (`TurnLeases.lookNow`) instead of at its next look.
final class Notifications: @unchecked Sendable {
    static let tokenChannel = "askd_tokens"
    static let turnLockChannel = "askd_turn_locks"

    private struct State {
        var listening = false
        var generation: UInt64 = 0
        var stopped = false
    }

    private let settings: ConnectionSettings
    private let state = Locked(State())
    private let turnLockReleased: @Sendable (String) -> Void

    init(settings: ConnectionSettings, turnLockReleased: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.turnLockReleased = turnLockReleased
        // Without the thread, never listening: every lookup reads the table.
        try? DetachedThread.start(name: "askd-pg-listen") { self.run() }
    }

    /// The generation now, or nil while no connection is listening.
    func current() -> UInt64? {
        state.withLock { $0.listening ? $0.generation : nil }
    }

    /// Starts a new generation for a change this process made itself.
    func changedHere() {
        state.withLock { $0.generation &+= 1 }
    }

    /// Ends the listening thread within a second.
    func stop() {
        state.withLock { $0.stopped = true }
    }

    private var stopped: Bool { state.withLock { $0.stopped } }

    private func run() {
        while !stopped {
            do {
                let connection = try PostgresConnection(settings: settings)
                _ = try connection.execute("LISTEN \(Self.tokenChannel)")
                _ = try connection.execute("LISTEN \(Self.turnLockChannel)")
                state.withLock { state in
                    state.generation &+= 1
                    state.listening = true
                }
                while !stopped {
                    let received = try connection.notifications(waitingUpTo: 1_000)
                    if received.contains(where: { $0.channel == Self.tokenChannel }) {
                        state.withLock { $0.generation &+= 1 }
                    }
                    for notification in received where notification.channel == Self.turnLockChannel {
                        turnLockReleased(notification.payload)
                    }
                }
            } catch {
                state.withLock { state in
                    state.listening = false
                    state.generation &+= 1
                }
                if !stopped { sleep(1) }
            }
        }
    }
}
