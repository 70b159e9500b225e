/// The FastCGI records askd writes itself for a response that is sent from any thread
/// (`OutputChannel`): `FCGI_STDOUT` with the response's bytes, and `FCGI_END_REQUEST`.
/// Everything else (params, stdin, the records of responses a worker sends) is libfcgi's.
enum FastCGIRecords {
    private static let version: UInt8 = 1
    private static let stdoutType: UInt8 = 6
    private static let endRequestType: UInt8 = 3
    /// The most content one record holds.
    static let maxContent = 65_535

    /// `bytes` as `FCGI_STDOUT` records of request `id`, appended to `output`.
    static func appendStdout(_ bytes: [UInt8], id: UInt16, to output: inout [UInt8]) {
        var offset = 0
        repeat {
            let count = min(maxContent, bytes.count - offset)
            appendHeader(type: stdoutType, id: id, length: count, to: &output)
            output.append(contentsOf: bytes[offset..<(offset + count)])
            offset += count
        } while offset < bytes.count
    }

    /// The end of stdout (an empty `FCGI_STDOUT`) and `FCGI_END_REQUEST` (status 0,
    /// FCGI_REQUEST_COMPLETE), appended to `output`.
    static func appendEnd(id: UInt16, to output: inout [UInt8]) {
        appendHeader(type: stdoutType, id: id, length: 0, to: &output)
        appendHeader(type: endRequestType, id: id, length: 8, to: &output)
        output.append(contentsOf: [0, 0, 0, 0, 0, 0, 0, 0])
    }

    private static func appendHeader(type: UInt8, id: UInt16, length: Int, to output: inout [UInt8]) {
        output.append(contentsOf: [version, type, UInt8(id >> 8), UInt8(id & 0xFF), UInt8(length >> 8), UInt8(length & 0xFF), 0, 0])
    }
}
