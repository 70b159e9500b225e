import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A minimal FastCGI client over a Unix socket, for tests that need to speak the protocol
/// itself: kept-alive connections and partial bodies, as a web server would send them.
final class FastCGIClient {
    private let fd: Int32

    /// With `receiveBuffer`, the socket's receive buffer is that small, for a reader that lets
    /// the server's writes back up soon.
    init(socketPath: String, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: socketPath.utf8) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw ClientError("connect \(socketPath): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// Sends BEGIN_REQUEST (responder, FCGI_KEEP_CONN when `keepConnection`), the params and
    /// `stdin` as given: pass fewer bytes than CONTENT_LENGTH to leave a body unfinished.
    /// With `pause`, the bytes go one at a time that far apart, as a peer trickling a request would.
    func send(params: [(String, String)], stdin: [UInt8], endStdin: Bool = true, keepConnection: Bool = true, pause: Double = 0) throws {
        var bytes = Self.record(type: 1, content: [0, 1, keepConnection ? 1 : 0, 0, 0, 0, 0, 0])
        var encoded: [UInt8] = []
        for (name, value) in params {
            encoded += Self.length(name.utf8.count) + Self.length(value.utf8.count) + Array(name.utf8) + Array(value.utf8)
        }
        bytes += Self.record(type: 4, content: encoded) + Self.record(type: 4, content: [])
        var offset = 0
        while offset < stdin.count {
            let end = min(offset + 65535, stdin.count)
            bytes += Self.record(type: 5, content: Array(stdin[offset..<end]))
            offset = end
        }
        if endStdin { bytes += Self.record(type: 5, content: []) }
        var sent = 0
        while sent < bytes.count {
            if pause > 0, sent > 0 { Thread.sleep(forTimeInterval: pause) }
            let piece = pause > 0 ? bytes[sent..<sent + 1] : bytes[sent...]
            let count = piece.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw ClientError("send: \(String(cString: strerror(errno)))") }
            sent += count
        }
    }

    /// Sends the empty STDIN record that ends a body.
    func sendEndOfStdin() throws {
        let bytes = Self.record(type: 5, content: [])
        guard bytes.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw ClientError("send: \(String(cString: strerror(errno)))")
        }
    }

    /// Closes the sending side, as a web server whose client vanished mid-upload might.
    func halfClose() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Reads records until END_REQUEST; returns the STDOUT bytes.
    func readResponse() throws -> String {
        var stdout: [UInt8] = []
        while true {
            let header = try readExactly(8)
            let type = header[1]
            let length = Int(header[4]) << 8 | Int(header[5])
            let content = try readExactly(length + Int(header[6]))
            if type == 6 { stdout += content[..<length] }
            if type == 3 { return String(decoding: stdout, as: UTF8.self) }
        }
    }

    /// Whether the server has closed the connection (reads EOF within a second).
    func serverClosed() -> Bool {
        var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pollFD, 1, 1000) == 1 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK)) == 0
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = buffer[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw ClientError("connection closed after \(got) of \(count) bytes") }
            got += n
        }
        return buffer
    }

    private static func record(type: UInt8, content: [UInt8]) -> [UInt8] {
        let padding = (8 - content.count % 8) % 8
        return [1, type, 0, 1, UInt8(content.count >> 8), UInt8(content.count & 0xFF), UInt8(padding), 0]
            + content + [UInt8](repeating: 0, count: padding)
    }

    private static func length(_ value: Int) -> [UInt8] {
        value < 128 ? [UInt8(value)] : [UInt8(value >> 24) | 0x80, UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}
