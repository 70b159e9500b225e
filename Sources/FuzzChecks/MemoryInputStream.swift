#if canImport(Glibc)
import Glibc
#endif
import CFastCGI

/// A libfcgi input stream over bytes in memory, handed out in the given chunks as libfcgi hands
/// out FCGI_STDIN records; after the last chunk it closes cleanly, or with an error when `cutOff`
/// (a connection that broke off). The fuzz checks are the one place besides `FastCGI` that touch
/// libfcgi: `RequestReader.body` takes a real `FCGX_Stream`, read through libfcgi's own
/// `FCGX_GetStr` and `FCGX_GetChar`, which then call `fillBuffProc` here.
final class MemoryInputStream {
    let stream: UnsafeMutablePointer<FCGX_Stream>
    private let bytes: UnsafeMutableBufferPointer<UInt8>
    /// The end offsets of the chunks, ascending; none is empty, since libfcgi never fills with nothing.
    private var ends: [Int]
    private var next = 0
    private let cutOff: Bool

    init(_ body: [UInt8], chunkEnds: [Int], cutOff: Bool) {
        bytes = .allocate(capacity: max(body.count, 1))
        _ = bytes.initialize(from: body)
        ends = chunkEnds
        self.cutOff = cutOff
        stream = .allocate(capacity: 1)
        stream.initialize(to: FCGX_Stream())
        stream.pointee.isReader = 1
        stream.pointee.rdNext = bytes.baseAddress
        stream.pointee.stop = bytes.baseAddress
        stream.pointee.stopUnget = bytes.baseAddress
        stream.pointee.fillBuffProc = { stream in
            guard let stream, let data = stream.pointee.data else { return }
            Unmanaged<MemoryInputStream>.fromOpaque(data).takeUnretainedValue().fill()
        }
        stream.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        stream.deallocate()
        bytes.deallocate()
    }

    private func fill() {
        guard next < ends.count else {
            if cutOff { stream.pointee.FCGI_errno = FCGX_PROTOCOL_ERROR }
            stream.pointee.isClosed = 1
            return
        }
        let start = next == 0 ? 0 : ends[next - 1]
        stream.pointee.rdNext = bytes.baseAddress! + start
        stream.pointee.stopUnget = bytes.baseAddress! + start
        stream.pointee.stop = bytes.baseAddress! + ends[next]
        next += 1
    }
}
