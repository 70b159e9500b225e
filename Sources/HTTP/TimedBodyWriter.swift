import Platform

/// A `BodyWriter` that counts the time its writes take as time spent waiting for the client
/// (`RequestWaits.client`): a write returns once the web server has taken the bytes.
struct TimedBodyWriter: BodyWriter {
    let base: any BodyWriter

    func write(_ bytes: [UInt8]) throws {
        let started = MonotonicSeconds.now()
        defer { RequestWaits.addClient(MonotonicSeconds.now() - started) }
        try base.write(bytes)
    }

    var clientIsGone: Bool { base.clientIsGone }
}
