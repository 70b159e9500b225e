import HTTP
import Platform
import Store
import Synchronization

/// `GET /healthz`: whether askd can serve, store included.
///
/// The store is asked at most once a second, so that a load balancer polling readiness costs the
/// database nothing much, and a database that hangs holds up one check a second, not all of
/// them. One check runs at a time: the others answer from the last one, and as down once the one
/// in flight has taken a second. While the store does not answer, the answer is 503
/// `{"status": "unavailable", "store": "down"}`.
public final class HealthHandler: Sendable {
    private static let ok = Array(#"{"status":"ok"}"#.utf8)
    private static let down = Array(#"{"status":"unavailable","store":"down"}"#.utf8)
    private static let recheckNanoseconds: Int64 = 1_000_000_000

    private let store: any ConversationStore
    /// When the store last answered, on the monotonic clock; 0 for never.
    private let lastAnswered = Atomic<Int64>(0)
    /// When the store last failed to answer; 0 for never.
    private let lastFailed = Atomic<Int64>(0)
    /// When the check in flight started; 0 for none.
    private let checkStarted = Atomic<Int64>(0)

    public init(store: any ConversationStore) {
        self.store = store
    }

    public func handle(_ request: Request) throws -> Response {
        var response = storeIsUp() ? Response.json(.ok, Self.ok) : Response.json(.serviceUnavailable, Self.down, headers: ["Retry-After": "5"])
        response.headers.add(name: "Cache-Control", value: "no-store")
        return response
    }

    /// Whether the store answered its last check (taken now if the last is a second old).
    public func storeIsUp() -> Bool {
        let now = MonotonicClock.nanoseconds()
        if now - lastAnswered.load(ordering: .relaxed) < Self.recheckNanoseconds { return true }
        // While the store is down, one check a second too: each may wait for a connection timeout.
        if now - lastFailed.load(ordering: .relaxed) < Self.recheckNanoseconds { return false }
        guard checkStarted.compareExchange(expected: 0, desired: now, ordering: .acquiringAndReleasing).exchanged else {
            let started = checkStarted.load(ordering: .relaxed)
            let slow = started != 0 && now - started >= Self.recheckNanoseconds
            return !slow && lastAnswered.load(ordering: .relaxed) >= lastFailed.load(ordering: .relaxed)
        }
        defer { checkStarted.store(0, ordering: .releasing) }
        guard (try? store.checkAvailable()) != nil else {
            lastFailed.store(MonotonicClock.nanoseconds(), ordering: .relaxed)
            return false
        }
        lastAnswered.store(now, ordering: .relaxed)
        return true
    }
}
