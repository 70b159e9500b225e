#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import HTTP

/// A request's body read from libfcgi's stream while its handler runs, under the same limit
/// and checks as a body read whole (`RequestReader.body`). The worker that made it calls
/// `finish` once the handler returns, before it answers: what the handler left unread must be
/// off the connection before the next request is read from it.
final class StreamedBody: RequestBodySource, @unchecked Sendable {
    private let stream: UnsafeMutablePointer<FCGX_Stream>
    private let length: BodyLength
    private let limit: Int
    private var received = 0
    private var ended = false
    private var failed = false

    /// The most a finish reads to keep the connection; beyond it, closing is cheaper.
    static let drainLimit = 1 << 20

    init(stream: UnsafeMutablePointer<FCGX_Stream>, length: BodyLength, limit: Int) {
        self.stream = stream
        self.length = length
        self.limit = limit
    }

    func read(maxCount: Int) throws -> [UInt8] {
        guard !ended, maxCount > 0 else { return [] }
        guard !failed else { throw HTTPError.badRequest("request body could not be read") }
        do {
            return try next(maxCount)
        } catch {
            failed = true
            throw error
        }
    }

    /// Reads what the handler left of a body that stays within `drainLimit`; whether the
    /// connection can then be kept for the next request.
    func finish() -> Bool {
        var drained = 0
        while !ended && !failed && drained <= Self.drainLimit {
            guard let chunk = try? read(maxCount: 64 * 1024) else { return false }
            drained += chunk.count
        }
        return ended && !failed
    }

    private func next(_ maxCount: Int) throws -> [UInt8] {
        switch length {
        case .exactly(let count):
            guard count <= limit else { throw HTTPError.contentTooLarge(limit: limit) }
            let wanted = min(maxCount, count - received)
            let chunk = RequestReader.read(wanted, from: stream)
            received += chunk.count
            guard chunk.count == wanted, FCGX_GetError(stream) == 0 else {
                throw HTTPError.badRequest("request body ended after \(received) of \(count) bytes")
            }
            if received == count {
                guard FCGX_GetChar(stream) == -1, FCGX_GetError(stream) == 0 else {
                    throw HTTPError.badRequest("request body is longer than its Content-Length of \(count) bytes")
                }
                ended = true
            }
            return chunk
        case .untilEndOfStream:
            // One byte past the limit tells "exactly at the limit" from "over it".
            let wanted = min(maxCount, limit + 1 - received)
            let chunk = RequestReader.read(wanted, from: stream)
            received += chunk.count
            if received > limit { throw HTTPError.contentTooLarge(limit: limit) }
            if chunk.count < wanted {
                // A short read is the end of the body only if the stream ended cleanly.
                guard FCGX_GetError(stream) == 0 else { throw HTTPError.badRequest("request body was cut off") }
                ended = true
            }
            return chunk
        }
    }
}
