/// A request body read as it arrives, for the paths whose bodies are too large to hold whole
/// before their handler starts (`ServerOptions.streamedBodyPrefixes`): an import of many
/// conversations is parsed a line at a time, never held as one buffer besides its parse.
public protocol RequestBodySource: AnyObject, Sendable {
    /// The next bytes of the body, at most `maxCount` of them; empty once it has ended.
    /// - Throws: `HTTPError` 413 as soon as more than the path's limit has arrived, and 400
    ///   when the body is cut off or does not match its Content-Length.
    func read(maxCount: Int) throws -> [UInt8]
}

/// A body already in memory, read in pieces: what a handler that reads a source gets when
/// its request came whole (in tests, or from another transport).
public final class BufferedBodySource: RequestBodySource, @unchecked Sendable {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public func read(maxCount: Int) throws -> [UInt8] {
        let end = min(bytes.count, offset + max(0, maxCount))
        defer { offset = end }
        return Array(bytes[offset..<end])
    }
}

extension Request {
    /// The body as a source: the one the server streams, or else the body read whole.
    public var bodyReader: any RequestBodySource {
        bodySource ?? BufferedBodySource(body)
    }
}
