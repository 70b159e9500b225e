#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Accepts the web server's connections itself, rather than inside `FCGX_Accept_r`, so that each
/// gets askd's timeouts before its first read and a worker never blocks on a silent peer.
///
/// - A read waits at most `readTimeoutSeconds` (`SO_RCVTIMEO`): a peer that stops midway
///   through a request loses its connection. (`ReadDeadlines` bounds the whole request too.)
/// - A write waits at most `sendTimeoutSeconds` (`SO_SNDTIMEO`): a reader that does not take
///   the answer (nginx, for a client that stopped reading a stream) is dropped as gone.
/// - A connection with nothing to read yet is parked like an idle kept-alive one, so waiting for
///   its first byte holds no thread.
/// - `FCGI_WEB_SERVER_ADDRS`, libfcgi's allow-list of TCP peers, is enforced here as libfcgi
///   would: a peer not on it is closed at once.
struct ConnectionAcceptor: Sendable {
    let readTimeoutSeconds: Double
    let sendTimeoutSeconds: Double
    /// The IPv4 peers allowed, as `FCGI_WEB_SERVER_ADDRS` lists them; nil: any.
    let allowedPeers: Set<String>?

    init(readTimeoutSeconds: Double, sendTimeoutSeconds: Double, allowList: String?) {
        self.readTimeoutSeconds = readTimeoutSeconds
        self.sendTimeoutSeconds = sendTimeoutSeconds
        allowedPeers = allowList.map { list in
            Set(list.split(separator: ",").map { String($0.filter { $0 != " " && $0 != "\t" }) }.filter { !$0.isEmpty })
        }
    }

    /// What one accept gave.
    enum Accepted {
        /// A connection with its timeouts set; `readable` when its first bytes are already there.
        case connection(fd: Int32, readable: Bool)
        /// Nothing to accept now (another worker took it), or a peer refused and closed.
        case none
        /// accept(2) failed with this errno (EMFILE and the like).
        case failed(Int32)
    }

    func accept(from listenFD: Int32) -> Accepted {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { askd_accept_cloexec(listenFD, $0, &length) }
        }
        guard fd >= 0 else {
            let code = errno
            return code == EAGAIN || code == EWOULDBLOCK || code == EINTR || code == ECONNABORTED ? .none : .failed(code)
        }
        guard isAllowed(address) else {
            close(fd)
            return .none
        }
        Self.set(SO_RCVTIMEO, seconds: readTimeoutSeconds, on: fd)
        Self.set(SO_SNDTIMEO, seconds: sendTimeoutSeconds, on: fd)
        var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let readable = Glibc.poll(&poll, 1, 0) == 1
        return .connection(fd: fd, readable: readable)
    }

    private func isAllowed(_ address: sockaddr_storage) -> Bool {
        guard let allowedPeers, Int32(address.ss_family) == AF_INET else { return true }
        var peer = address
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        let written = withUnsafePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet_ntop(AF_INET, [$0.pointee.sin_addr], &text, socklen_t(text.count)) }
        }
        return written != nil && allowedPeers.contains(String(cString: text))
    }

    private static func set(_ option: Int32, seconds: Double, on fd: Int32) {
        guard seconds > 0 else { return }
        let whole = seconds.rounded(.down)
        var value = timeval(tv_sec: Int(whole), tv_usec: Int((seconds - whole) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
    }
}
