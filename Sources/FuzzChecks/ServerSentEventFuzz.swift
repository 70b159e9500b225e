import FoundationEssentials
import Upstream

/// The upstream's event stream: the SSE parser, then each event's data through the chunk decoder
/// and the accumulator, as the OpenAI client reads a streamed answer.
///
/// Input: a line limit byte (below 128: 1 to 128 bytes, to reach `lineTooLong`; otherwise the
/// default), a seed for the splits, then the stream.
///
/// Invariants: the stream fed whole, fed in random splits and fed byte by byte gives the same
/// events (or the same error); decoding an event's data never traps, and fails only with
/// `UpstreamError`.
public enum ServerSentEventFuzz {
    public static func check(_ bytes: [UInt8]) {
        var input = FuzzReader(bytes)
        let limitByte = input.byte()
        let maxLineBytes = limitByte < 128 ? Int(limitByte) + 1 : 1 << 20
        var generator = SplitMix64(seed: UInt64(input.byte()))
        let stream = input.rest()

        let whole = events(of: [stream[...]], maxLineBytes: maxLineBytes)
        var pieces: [ArraySlice<UInt8>] = []
        var start = 0
        while start < stream.count {
            // Empty pieces too: a read may return nothing.
            let end = min(start + Int(generator.next() % 9), stream.count)
            pieces.append(stream[start..<end])
            start = end
        }
        let split = events(of: pieces, maxLineBytes: maxLineBytes)
        require(split == whole, "split \(pieces.map(\.count)): \(split), whole: \(whole)")
        let single = events(of: stream.map { [$0][...] }, maxLineBytes: maxLineBytes)
        require(single == whole, "byte by byte: \(single), whole: \(whole)")

        guard case .success(let events) = whole else { return }
        let decoder = JSONDecoder()
        var accumulator = ChatStreamAccumulator()
        for event in events {
            do {
                if let chunk = try ChatCompletionChunk.decode(event.data, with: decoder) {
                    _ = accumulator.add(chunk)
                }
            } catch {
                // Typed: an `UpstreamError`, which the client turns into a 502.
            }
        }
        _ = accumulator.response(defaultModel: "fuzz")
    }

    private static func events(of pieces: [ArraySlice<UInt8>], maxLineBytes: Int) -> Result<[ServerSentEvent], ServerSentEventParser.Error> {
        var parser = ServerSentEventParser(maxLineBytes: maxLineBytes)
        var events: [ServerSentEvent] = []
        do {
            for piece in pieces { events += try parser.feed(piece) }
        } catch {
            return .failure(error)
        }
        return .success(events + parser.finish())
    }
}
