import FoundationEssentials
import Platform

/// The memory store's counters of tokens' limits: window buckets and parallel slots, by token.
/// A slot here never expires: its process is the store's own.
final class MemoryLimits: Sendable {
    private struct State {
        var buckets: [String: [WindowBucket]] = [:]
        var slots: [String: Set<String>] = [:]
    }

    private let state = Locked(State())

    /// Admits or refuses by `RateWindow`, with `tokensToday` read from the store's usage.
    func admit(tokenID: String, limits: TokenLimits, tokensToday: Int, at date: Date) -> Admission {
        state.withLock { state in
            let readings = Self.readings(state, tokenID: tokenID, limits: limits, tokensToday: tokensToday, at: date)
            guard RateWindow.refusal(limits, readings) == nil else { return Admission(readings: readings, ticket: nil) }
            var second: Int64?
            if limits.isWindowed {
                let now = RateWindow.second(of: date)
                second = now
                var buckets = readings.buckets
                if buckets.last?.second == now { buckets[buckets.count - 1].requests += 1 } else { buckets.append(WindowBucket(second: now, requests: 1, tokens: 0)) }
                state.buckets[tokenID] = buckets
            }
            var slot: String?
            if limits.maxParallel != nil {
                let holder = UUID().uuidString
                state.slots[tokenID, default: []].insert(holder)
                slot = holder
            }
            return Admission(readings: readings, ticket: AdmissionTicket(tokenID: tokenID, slot: slot, second: second))
        }
    }

    func finish(_ ticket: AdmissionTicket, tokens: Int, counted: Bool, at date: Date) {
        state.withLock { state in
            if let slot = ticket.slot { state.slots[ticket.tokenID]?.remove(slot) }
            guard let second = ticket.second else { return }
            var buckets = state.buckets[ticket.tokenID] ?? []
            if !counted, let index = buckets.firstIndex(where: { $0.second == second }), buckets[index].requests > 0 {
                buckets[index].requests -= 1
            }
            if tokens > 0 {
                let now = RateWindow.second(of: date)
                if let index = buckets.firstIndex(where: { $0.second == now }) {
                    buckets[index].tokens += tokens
                } else {
                    buckets.append(WindowBucket(second: now, requests: 0, tokens: tokens))
                    buckets.sort { $0.second < $1.second }
                }
            }
            state.buckets[ticket.tokenID] = buckets
        }
    }

    func readings(tokenID: String, limits: TokenLimits, tokensToday: Int, at date: Date) -> LimitReadings {
        state.withLock { Self.readings($0, tokenID: tokenID, limits: limits, tokensToday: tokensToday, at: date) }
    }

    private static func readings(_ state: State, tokenID: String, limits: TokenLimits, tokensToday: Int, at date: Date) -> LimitReadings {
        let first = RateWindow.firstCounted(at: date)
        return LimitReadings(
            at: date, buckets: limits.isWindowed ? (state.buckets[tokenID] ?? []).filter { $0.second >= first } : [],
            slotsInUse: limits.maxParallel == nil ? 0 : state.slots[tokenID]?.count ?? 0,
            tokensToday: limits.tokensPerDay == nil ? 0 : tokensToday
        )
    }
}
