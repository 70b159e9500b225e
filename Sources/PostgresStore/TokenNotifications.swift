#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Platform

/// A generation number for the token rows this process keeps (`TokenCache`), changed whenever
/// any process changes a token: askd sends `NOTIFY askd_tokens` after each such change, and a
/// connection of this process's own, on a thread of its own, LISTENs for it.
///
/// While that connection is not listening (not yet, or lost and not yet back), there is no
/// generation, and readers read the table every time. Each (re)connection starts a new
/// generation, so nothing read before a gap is trusted after it.
final class TokenNotifications: @unchecked Sendable {
    static let channel = "askd_tokens"

    private struct State {
        var listening = false
        var generation: UInt64 = 0
        var stopped = false
    }

    private let settings: ConnectionSettings
    private let state = Locked(State())

    init(settings: ConnectionSettings) {
        self.settings = settings
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
                _ = try connection.execute("LISTEN \(Self.channel)")
                state.withLock { state in
                    state.generation &+= 1
                    state.listening = true
                }
                while !stopped {
                    if try connection.notifications(waitingUpTo: 1_000) > 0 {
                        state.withLock { $0.generation &+= 1 }
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
