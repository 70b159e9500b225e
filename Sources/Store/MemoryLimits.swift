import FoundationEssentials
import Platform

/// The memory store's counters of tokens' limits: window buckets and parallel slots, by token.
/// A slot here never expires: its process is the store's own.
final class MemoryLimits: Sendable {
    private struct State {
        var buckets: [String: [WindowBucket]] = [:]
        var slots: [String: [String: Int]] = [:]
    }

    private let state = Locked(State())

    /// Admits up to `wanted` requests, or refuses, by `RateWindow`, with `tokensToday` read from
    /// the store's usage.
    func admit(tokenID: String, limits: TokenLimits, tokensToday: Int, at date: Date, wanted: Int) -> Admission {
        state.withLock { state in
            let readings = Self.readings(state, tokenID: tokenID, limits: limits, tokensToday: tokensToday, at: date)
            let count = RateWindow.grant(limits, readings, wanted: wanted)
            guard count > 0 else { return Admission(readings: readings, ticket: nil) }
            var second: Int64?
            if limits.isWindowed {
                let now = RateWindow.second(of: date)
                second = now
                Self.add(requests: count, tokens: 0, at: now, to: &state.buckets[tokenID, default: []])
            }
            var slot: String?
            if limits.maxParallel != nil {
                let holder = UUID().uuidString
                state.slots[tokenID, default: [:]][holder] = count
                slot = holder
            }
            return Admission(readings: readings, ticket: AdmissionTicket(tokenID: tokenID, slot: slot, second: second, count: count))
        }
    }

    func finish(_ ticket: AdmissionTicket, tokens: Int, counted: Bool, at date: Date) {
        settle(ticket, returning: counted ? 0 : 1, slotsKept: 0, tokens: counted ? tokens : 0, at: date)
    }

    func settle(_ ticket: AdmissionTicket, returning: Int, slotsKept: Int, tokens: Int, at date: Date) {
        state.withLock { state in
            if let slot = ticket.slot {
                state.slots[ticket.tokenID]?[slot] = slotsKept > 0 ? slotsKept : nil
            }
            guard let second = ticket.second else { return }
            if returning > 0, let index = state.buckets[ticket.tokenID]?.firstIndex(where: { $0.second == second }) {
                state.buckets[ticket.tokenID]![index].requests = max(0, state.buckets[ticket.tokenID]![index].requests - returning)
            }
            if tokens > 0 {
                Self.add(requests: 0, tokens: tokens, at: RateWindow.second(of: date), to: &state.buckets[ticket.tokenID, default: []])
            }
        }
    }

    private static func add(requests: Int, tokens: Int, at second: Int64, to buckets: inout [WindowBucket]) {
        if let index = buckets.firstIndex(where: { $0.second == second }) {
            buckets[index].requests += requests
            buckets[index].tokens += tokens
        } else {
            buckets.append(WindowBucket(second: second, requests: requests, tokens: tokens))
            buckets.sort { $0.second < $1.second }
        }
    }

    func readings(tokenID: String, limits: TokenLimits, tokensToday: Int, at date: Date) -> LimitReadings {
        state.withLock { Self.readings($0, tokenID: tokenID, limits: limits, tokensToday: tokensToday, at: date) }
    }

    private static func readings(_ state: State, tokenID: String, limits: TokenLimits, tokensToday: Int, at date: Date) -> LimitReadings {
        let first = RateWindow.firstCounted(at: date)
        return LimitReadings(
            at: date, buckets: limits.isWindowed ? (state.buckets[tokenID] ?? []).filter { $0.second >= first } : [],
            slotsInUse: limits.maxParallel == nil ? 0 : state.slots[tokenID]?.values.reduce(0, +) ?? 0,
            tokensToday: limits.tokensPerDay == nil ? 0 : tokensToday
        )
    }
}
