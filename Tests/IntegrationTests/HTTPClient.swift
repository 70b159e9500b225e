import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A parsed HTTP/1.1 response.
struct HTTPResponse {
    let status: Int
    let headers: [(name: String, value: String)]
    let body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object.
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw ClientError("body is not a JSON object: \(text)")
        }
        return object
    }
}

struct ClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A deliberately small HTTP/1.1 client over blocking sockets, so tests control every byte:
/// when a request is sent, how much of the answer is read, and when the connection closes.
struct HTTPClient {
    let port: UInt16

    func get(_ path: String, headers: [(String, String)] = []) throws -> HTTPResponse {
        try request("GET", path, headers: headers)
    }

    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) throws -> HTTPResponse {
        let connection = try Connection(port: port)
        defer { connection.close() }
        try connection.send(Self.requestBytes(method, path, headers: headers, body: body))
        return try connection.readResponse()
    }

    static func requestBytes(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body, !headers.contains(where: { $0.0.lowercased() == "transfer-encoding" }) {
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        return Array(head.utf8) + (body ?? [])
    }
}

/// One TCP connection to 127.0.0.1.
final class Connection {
    private let fd: Int32

    init(port: UInt16, timeoutSeconds: Int = 30) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ClientError("socket: \(errno)") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            Glibc.close(fd)
            throw ClientError("connect to port \(port): \(String(cString: strerror(code)))")
        }
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw ClientError("send failed: \(String(cString: strerror(errno)))") }
            offset += sent
        }
    }

    /// Sends as much of `bytes` as the server takes: one that answers (413, 400) and closes
    /// before reading everything is not an error here, its answer is what counts.
    func sendWhatIsTaken(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { return }
            offset += sent
        }
    }

    /// Closes the sending side; the answer can still be read.
    func halfClose() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Everything until the server closes (or resets after answering).
    /// - Throws: when the server stays silent for the connection's timeout.
    func readToEnd() throws -> [UInt8] {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += buffer[..<count]
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                throw ClientError("no end of the answer within the timeout (\(received.count) bytes so far)")
            }
            return received
        }
    }

    /// One `recv`: whatever has arrived, empty at the end of the stream.
    func readSome() throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { throw ClientError("recv failed: \(String(cString: strerror(errno)))") }
        return Array(buffer[..<count])
    }

    /// Reads until `marker` has arrived; returns everything read.
    func read(until marker: String) throws -> [UInt8] {
        var received: [UInt8] = []
        while !String(decoding: received, as: UTF8.self).contains(marker) {
            let chunk = try readSome()
            guard !chunk.isEmpty else { throw ClientError("stream ended before \(marker)") }
            received += chunk
        }
        return received
    }

    /// Reads to the end of the stream (the requests say `Connection: close`) and parses it.
    func readResponse() throws -> HTTPResponse {
        var received: [UInt8] = []
        while true {
            let chunk = try readSome()
            if chunk.isEmpty { break }
            received += chunk
        }
        return try Self.parse(received)
    }

    func close() {
        Glibc.close(fd)
    }

    static func parse(_ bytes: [UInt8]) throws -> HTTPResponse {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0...(max(bytes.count - 4, 0))).first(where: { Array(bytes[$0..<min($0 + 4, bytes.count)]) == separator }) else {
            throw ClientError("no complete response head in \(bytes.count) bytes: \(String(decoding: bytes, as: UTF8.self))")
        }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw ClientError("bad status line \(lines[0])") }
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var body = Array(bytes[(end + 4)...])
        if headers.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased() == "chunked" }) {
            body = try dechunk(body)
        }
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    static func dechunk(_ bytes: [UInt8]) throws -> [UInt8] {
        var body: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard let lineEnd = (index..<bytes.count - 1).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) else { break }
            let sizeText = String(decoding: bytes[index..<lineEnd], as: UTF8.self).split(separator: ";")[0]
            guard let size = Int(sizeText, radix: 16) else { throw ClientError("bad chunk size \(sizeText)") }
            if size == 0 { break }
            let start = lineEnd + 2
            guard start + size <= bytes.count else { throw ClientError("truncated chunk") }
            body += bytes[start..<(start + size)]
            index = start + size + 2
        }
        return body
    }
}

/// Connects to a Unix socket; `nil` on success, otherwise the errno.
func connectError(unixSocket path: String) -> Int32? {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
        buffer.copyBytes(from: path.utf8)
        buffer[path.utf8.count] = 0
    }
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    return rc == 0 ? nil : errno
}

extension Connection {
    /// Sends each request on a connection of its own, all before reading any answer, then reads
    /// the answers in order: the requests are in flight together.
    static func allAtOnce(port: UInt16, _ requests: [[UInt8]], timeoutSeconds: Int = 10) throws -> [HTTPResponse] {
        let connections = try requests.map { request in
            let connection = try Connection(port: port, timeoutSeconds: timeoutSeconds)
            try connection.send(request)
            return connection
        }
        return try connections.map { connection in
            defer { connection.close() }
            return try connection.readResponse()
        }
    }
}
