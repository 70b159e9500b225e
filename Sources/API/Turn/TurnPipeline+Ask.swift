import HTTP
import Platform
import Upstream

extension TurnPipeline {
    /// Ask the model: a stream's pieces go to the client as they come (`TurnDelivery`); the
    /// whole answer goes on to be stored. An answer that failed, or that its client left, stores
    /// nothing; what the model produced for a client that left still counts in the usage.
    /// The answer arrives on the upstream's thread, which must not wait on the store: all but
    /// the commit itself (which is the store's own to schedule) moves to the `WorkQueue`.
    func ask(_ turn: TurnContext, _ prepared: PreparedTurn) {
        let asked = MonotonicClock.now()
        turn.admitted.askingModel()
        upstream.ask(prepared.request, streamingTo: turn.delivery.events) { result in
            turn.delivery.channel.addUpstreamWait(MonotonicClock.now() - asked)
            switch result {
            case .success(let answer):
                store(turn, prepared, answer: answer)
            case .failure(let error as ClientDisconnected):
                work.post {
                    release(prepared)
                    if let partial = turn.delivery.events?.abandonedAnswer { countUnstored(partial, prepared, turn) }
                    turn.logger.info("the client left during a streamed answer; the upstream transfer was cut and nothing stored")
                    turn.delivery.fail(error)
                }
            case .failure(let error):
                work.post {
                    release(prepared)
                    // A stream the server gave up (askd is stopping): the model was paid for it.
                    if let partial = turn.delivery.events?.abandonedAnswer { countUnstored(partial, prepared, turn) }
                    turn.delivery.fail(clientError(error, logger: turn.logger))
                }
            }
        }
    }

    /// Gives the turn lock back, if the turn holds one.
    func release(_ prepared: PreparedTurn) {
        if let lock = prepared.lock { store.releaseTurnLock(lock) }
    }
}
