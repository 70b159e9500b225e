#if canImport(Glibc)
import Glibc
import HTTP
import Platform
#endif

/// A listening socket, and whether askd owns it.
///
/// A socket askd made is unlinked and shut down when it stops accepting, so that new
/// connections are refused at once. An inherited socket is left alone (systemd.socket(5)):
/// the service manager keeps it, and the next instance serves what queues on it.
public struct ListeningSocket: Sendable {
    public let fd: Int32
    public let description: String
    let ownedPath: String?
    /// Whether askd made this socket (and so may stop, drain and remove it).
    let owned: Bool

    /// Opens or adopts the socket for `target`.
    /// - Throws: `ListenError` naming the path, address or variable at fault.
    public static func open(_ target: ListenTarget, environment: [String: String]) throws -> ListeningSocket {
        switch target {
        case .unix(let path, let mode, let group):
            return try openUnix(path: path, mode: mode, group: group)
        case .tcp(let host, let port):
            return try openTCP(host: host, port: port)
        case .inherited:
            return try inherit(environment: environment)
        }
    }

    /// Stops new connections reaching this socket, if askd owns it. Connections already queued
    /// can still be accepted: a Unix socket's path is removed; a TCP socket is left to be
    /// closed after the queue is served (shutting it down would reset the queue).
    func stopListening() {
        guard owned, let ownedPath else { return }
        unlink(ownedPath)
        shutdown(fd, Int32(SHUT_RDWR))
    }

    func close() {
        _ = Glibc.close(fd)
    }

    // MARK: Unix

    /// The socket is made under a staging name, given its group and mode, set listening, and only
    /// then linked to `path`: whoever sees `path` can connect, with the final permissions. `link`
    /// fails if the name is taken, so two askd starting at once never replace each other's socket.
    private static func openUnix(path: String, mode: UInt32, group: String?) throws -> ListeningSocket {
        let staging = path + ".\(getpid()).new"
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let limit = capacity - 1 - (staging.utf8.count - path.utf8.count)
        guard path.utf8.count <= limit else {
            throw ListenError("socket path \(path) is \(path.utf8.count) bytes; the limit is \(limit)")
        }
        let groupID = try group.map(lookUpGroup)
        try removeStaleSocket(at: path)

        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: staging.utf8)
            buffer[staging.utf8.count] = 0
        }
        unlink(staging)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ListenError(SystemError("socket")) }
        func fail(_ message: String) -> ListenError {
            Glibc.close(fd)
            unlink(staging)
            return ListenError(message)
        }
        // Create the file with no access at all, then open it up to exactly `mode`.
        let previousMask = umask(0o777)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        let bindError = errno
        umask(previousMask)
        guard bound == 0 else {
            Glibc.close(fd)
            throw ListenError("cannot bind \(path): \(SystemError("bind", code: bindError).message)")
        }
        if let groupID, chown(staging, uid_t.max, groupID) != 0 {
            throw fail("cannot give \(path) to group \(group!): \(SystemError("chown").message)")
        }
        if chmod(staging, mode_t(mode)) != 0 {
            throw fail("cannot set mode \(String(mode, radix: 8)) on \(path): \(SystemError("chmod").message)")
        }
        guard listen(fd, SOMAXCONN) == 0 else {
            throw fail("cannot listen on \(path): \(SystemError("listen").message)")
        }
        guard link(staging, path) == 0 else {
            let code = errno
            throw fail(code == EEXIST ? "another process is listening on \(path)" : "cannot create \(path): \(SystemError("link", code: code).message)")
        }
        unlink(staging)
        return ListeningSocket(fd: fd, description: "unix:\(path)", ownedPath: path, owned: true)
    }

    /// Removes a socket file left by a process that is gone; refuses anything else.
    private static func removeStaleSocket(at path: String) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw ListenError("\(path) exists and is not a socket; refusing to replace it")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { throw ListenError(SystemError("socket")) }
        defer { Glibc.close(probe) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8)
            buffer[path.utf8.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected == 0 {
            throw ListenError("another process is listening on \(path)")
        }
        guard errno == ECONNREFUSED else {
            throw ListenError("cannot check the existing socket \(path): \(SystemError("connect").message)")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw ListenError("cannot remove the stale socket \(path): \(SystemError("unlink").message)")
        }
    }

    private static func lookUpGroup(_ name: String) throws -> gid_t {
        if let number = gid_t(name) { return number }
        guard let entry = getgrnam(name) else { throw ListenError("unknown group \(name)") }
        return entry.pointee.gr_gid
    }

    // MARK: TCP

    private static func openTCP(host: String, port: UInt16) throws -> ListeningSocket {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw ListenError("\(host) is not an IPv4 address")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ListenError(SystemError("socket")) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, SOMAXCONN) == 0 else {
            let error = SystemError("bind")
            Glibc.close(fd)
            throw ListenError("cannot listen on \(host):\(port): \(error.message)")
        }
        return ListeningSocket(fd: fd, description: "tcp:\(host):\(port)", ownedPath: nil, owned: true)
    }

    // MARK: Inherited

    /// fd 3 when `LISTEN_FDS`/`LISTEN_PID` name this process (sd_listen_fds(3)), otherwise fd 0.
    private static func inherit(environment: [String: String]) throws -> ListeningSocket {
        if let listenPID = environment["LISTEN_PID"], let count = environment["LISTEN_FDS"] {
            guard let pid = Int32(listenPID) else { throw ListenError("LISTEN_PID=\(listenPID) is not a process id") }
            if pid == getpid() {
                guard let fds = Int(count), fds >= 1 else {
                    throw ListenError("LISTEN_FDS=\(count) is not a positive number of sockets")
                }
                guard fds == 1 else {
                    throw ListenError("LISTEN_FDS=\(count): askd serves exactly one socket; give its unit one ListenStream")
                }
                unsetenv("LISTEN_PID")
                unsetenv("LISTEN_FDS")
                unsetenv("LISTEN_FDNAMES")
                let fd: Int32 = 3
                guard isListeningSocket(fd) else { throw ListenError("LISTEN_FDS names fd 3, but it is not a listening socket") }
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                return ListeningSocket(fd: fd, description: "inherited fd 3 (LISTEN_FDS)", ownedPath: nil, owned: false)
            }
        }
        guard isListeningSocket(0) else {
            throw ListenError(
                "no socket to listen on: pass --socket PATH or --listen HOST:PORT, "
                    + "or start askd with a listening socket on fd 0 or by LISTEN_FDS (systemd socket activation)"
            )
        }
        return ListeningSocket(fd: 0, description: "inherited fd 0", ownedPath: nil, owned: false)
    }

    private static func isListeningSocket(_ fd: Int32) -> Bool {
        var accepting: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0 && accepting == 1
    }
}

/// Why askd could not listen; the message names the culprit.
public struct ListenError: Error, Sendable, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
    init(_ error: SystemError) { self.description = error.description }
}
