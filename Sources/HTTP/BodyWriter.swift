/// Where a streamed response body goes.
///
/// The transport sends each chunk to the client as soon as it is written.
public protocol BodyWriter {
    /// Sends `bytes` to the client now.
    /// - Throws: `ClientDisconnected` when the client has gone away; the handler should stop its work.
    func write(_ bytes: [UInt8]) throws

    /// Whether the client is known to have left, found without writing: a handler waiting on
    /// something slow asks now and then, so that it can stop the work early.
    var clientIsGone: Bool { get }

    /// Whether the server can wait no longer for this response: it is stopping and its drain
    /// time has run out. A handler still streaming ends the response now, saying why.
    var mustEndNow: Bool { get }
}

extension BodyWriter {
    public func write(_ string: String) throws {
        try write(Array(string.utf8))
    }

    public var mustEndNow: Bool { false }
}

/// The client closed its connection before the response was complete.
public struct ClientDisconnected: Error, Sendable, Equatable {
    public init() {}
}
