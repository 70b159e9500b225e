import Platform

extension Application {
    /// `response` with its waits measured: a stream's writes count as waiting for the client
    /// (and the stream as open meanwhile); a deferred response's wait counts as waiting for the
    /// model, carried to the thread that finishes it.
    func timed(_ response: Response, recorder: any RequestRecorder) -> Response {
        var response = response
        switch response.body {
        case .bytes:
            return response
        case .stream(let produce):
            response.body = .stream { writer in
                recorder.streamOpened()
                defer { recorder.streamClosed() }
                try produce(TimedBodyWriter(base: writer))
            }
        case .deferred(let deferred):
            response.body = .deferred(DeferredResponse { resume in
                // Called on the thread that answered, right after the handler: what it waited
                // for so far goes along to the thread that finishes the response.
                let upstream = RequestWaits.upstream
                let client = RequestWaits.client
                let started = MonotonicSeconds.now()
                deferred.start { finish in
                    let waited = MonotonicSeconds.now() - started
                    resume {
                        RequestWaits.reset(upstream: upstream + waited, client: client)
                        return try finish()
                    }
                }
            })
        }
        return response
    }
}
