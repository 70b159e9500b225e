#if canImport(Glibc)
import Glibc
#endif
import Platform

/// One resolved address of the upstream.
struct SocketAddress: @unchecked Sendable {
    var storage = sockaddr_storage()
    var length: socklen_t = 0
    var family: Int32 = 0

    /// The addresses of `host`, in `getaddrinfo`'s order.
    static func resolve(host: String, port: String) -> Result<[SocketAddress], UpstreamConnection.Failure> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        // Every family (no AI_ADDRCONFIG, which ignores loopback and so refuses `::1` on a host
        // whose only IPv6 address it is): an address this host cannot reach fails at socket() or
        // connect(), and the next one is tried.
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, port, &hints, &list)
        guard code == 0 else { return .failure(.init(detail: "could not resolve \(host): \(String(cString: gai_strerror(code)))")) }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let info = entry?.pointee {
            var address = SocketAddress(length: info.ai_addrlen, family: info.ai_family)
            withUnsafeMutableBytes(of: &address.storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: info.ai_addr, count: Int(info.ai_addrlen))) }
            addresses.append(address)
            entry = info.ai_next
        }
        return addresses.isEmpty ? .failure(.init(detail: "\(host) has no address")) : .success(addresses)
    }
}

/// A non-blocking TCP connection to the upstream, owned by one thread at a time: the exchange
/// using it, or the client's idle list.
final class UpstreamConnection {
    /// Why no connection could be opened.
    struct Failure: Error {
        let detail: String
    }

    let fd: Int32
    /// The addresses it was opened from, and which of them it was opened to: connecting goes on
    /// with the next when that one fails or times out.
    let addresses: [SocketAddress]
    let addressIndex: Int
    /// Still connecting: writable once connected, or once connecting failed.
    var connecting: Bool
    /// It carried an exchange before: a failure before any answer may only mean the upstream
    /// closed it while it was idle.
    var reused = false
    /// Whether its descriptor is in the client's epoll set (then it is re-armed, not added).
    var registered = false
    var idleSince = 0.0

    private init(fd: Int32, addresses: [SocketAddress], addressIndex: Int, connecting: Bool) {
        self.fd = fd
        self.addresses = addresses
        self.addressIndex = addressIndex
        self.connecting = connecting
    }

    deinit {
        close(fd)
    }

    /// Starts connecting to the first of `addresses` from `start` that does not refuse at once.
    /// - Returns: the connection, connected or connecting, or why no address would do.
    static func open(to addresses: [SocketAddress], from start: Int) -> Result<UpstreamConnection, Failure> {
        var failure = SystemError("connect", code: ECONNREFUSED)
        for index in addresses.indices where index >= start {
            var address = addresses[index]
            let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                // EAFNOSUPPORT and the like: this family will not do, another may.
                failure = SystemError("socket")
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let result = withUnsafePointer(to: &address.storage) { storage in
                storage.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, address.length) }
            }
            if result == 0 || errno == EINPROGRESS {
                return .success(UpstreamConnection(fd: fd, addresses: addresses, addressIndex: index, connecting: result != 0))
            }
            failure = SystemError("connect", code: errno)
            close(fd)
        }
        return .failure(Failure(detail: "\(failure)"))
    }

    /// The outcome of connecting, once the socket is writable: 0, or the errno.
    func connectError() -> Int32 {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return errno }
        return error
    }
}

extension SocketAddress: Equatable {
    static func == (left: SocketAddress, right: SocketAddress) -> Bool {
        guard left.length == right.length, left.family == right.family else { return false }
        return withUnsafeBytes(of: left.storage) { a in
            withUnsafeBytes(of: right.storage) { b in memcmp(a.baseAddress!, b.baseAddress!, Int(left.length)) == 0 }
        }
    }
}
