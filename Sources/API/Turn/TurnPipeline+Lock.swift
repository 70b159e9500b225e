import Store

extension TurnPipeline {
    /// Lock: a new conversation needs no lock. One that continues (and that `admit` found to be
    /// the caller's) has its turn lock taken, waiting in line up to `turnWaitSeconds` (then 409).
    /// `next` runs on the calling thread when no wait was needed, else on the `WorkQueue`.
    func lock(_ turn: TurnContext, then next: @escaping @Sendable (Result<TurnLock?, any Error>) -> Void) {
        guard let existing = turn.input.conversationID else {
            next(.success(nil))
            return
        }
        waiters.acquire(existing, on: store, timeout: settings.turnWaitSeconds) { next($0.map { $0 }) }
    }
}
