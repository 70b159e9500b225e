#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import CLinux
import Platform

/// The one epoll set the workers wait on: the listening socket, the stop pipe, and the idle
/// kept-alive connections (FCGI_KEEP_CONN, nginx's `fastcgi_keep_conn on`).
///
/// An idle kept-alive connection does not pin a worker: after its request, the worker parks the
/// connection here (EPOLLONESHOT) and goes back to waiting. When the web server sends the next
/// request on it, exactly one worker claims it. Threads waiting on one epoll instance are woken
/// one per event, so a new connection wakes one worker, not all of them; the stop pipe stays
/// readable, and level-triggered readiness passes it on to every worker in turn. Only a few idle
/// workers wait in epoll at once (`EpollWaiters`); the others sleep until one of those leaves.
final class ReadySet: @unchecked Sendable {
    enum Work {
        case accept
        case stop
        /// Nothing came for the calling worker within its wait.
        case idle
        /// A parked connection with a request waiting on it (or closed by its peer).
        case connection(UnsafeMutablePointer<FCGX_Request>)
    }

    private let epoll: Int32
    private let parked = ParkedConnections()
    private let waiters: EpollWaiters

    private static let listenTag: UInt64 = 1
    private static let stopTag: UInt64 = 2

    init(listenFD: Int32, stopFD: Int32, waiters: EpollWaiters) throws {
        self.waiters = waiters
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw SystemError("epoll_create1") }
        try control(EPOLL_CTL_ADD, listenFD, events: EPOLLIN.rawValue, tag: Self.listenTag)
        try control(EPOLL_CTL_ADD, stopFD, events: EPOLLIN.rawValue, tag: Self.stopTag)
    }

    deinit {
        close(epoll)
    }

    /// Blocks until there is work for the calling worker, or `.idle` after `timeoutMilliseconds`
    /// without any (-1: no limit).
    func next(timeoutMilliseconds: Int32 = -1) -> Work {
        // What is left of the wait after any spent outside epoll.
        guard let timeout = waiters.enter(waitingUpTo: timeoutMilliseconds) else { return .idle }
        defer { waiters.leave() }
        var event = epoll_event()
        while true {
            let count = epoll_wait(epoll, &event, 1, timeout)
            if count < 0 {
                if errno == EINTR { continue }
                return .stop
            }
            if count == 0 && timeout >= 0 { return .idle }
            guard count == 1 else { continue }
            switch event.data.u64 {
            case Self.listenTag: return .accept
            case Self.stopTag: return .stop
            case let address:
                if let request = parked.claim(UInt(address)) { return .connection(request) }
            }
        }
    }

    /// Parks a kept-alive connection until its next request. Returns `false` once the server is
    /// stopping; the caller then closes it.
    func park(_ request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
        let fd = request.pointee.ipcFd
        let tag = UInt64(UInt(bitPattern: request))
        // Recorded before it is armed, so that a request arriving at once finds it claimable.
        guard parked.insert(request) else { return false }
        let events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLONESHOT.rawValue
        // The fd stays registered while its connection lives: re-arm it, or add it if new.
        if (try? control(EPOLL_CTL_MOD, fd, events: events, tag: tag)) == nil,
            (try? control(EPOLL_CTL_ADD, fd, events: events, tag: tag)) == nil
        {
            // Not armed. If a stop took it meanwhile, the stop has closed it.
            return parked.claim(UInt(bitPattern: request)) == nil
        }
        return true
    }

    /// At a stop: closes every parked connection and refuses new ones (the web server reconnects
    /// elsewhere), and lets every idle worker in to see the stop pipe.
    func stop() {
        for request in parked.stop() { KeptRequest.release(request) }
        waiters.admitAll()
    }

    private func control(_ operation: Int32, _ fd: Int32, events: UInt32, tag: UInt64) throws {
        var event = epoll_event()
        event.events = events
        event.data.u64 = tag
        guard epoll_ctl(epoll, operation, fd, &event) == 0 else { throw SystemError("epoll_ctl") }
    }
}

/// Allocation of `FCGX_Request`s, which must not move in memory while libfcgi uses them.
enum KeptRequest {
    static func make(listenFD: Int32) -> UnsafeMutablePointer<FCGX_Request> {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        FCGX_InitRequest(request, listenFD, 0)
        return request
    }

    /// A request struct for a connection askd accepted itself: libfcgi reads its first request
    /// from `fd` as from a kept-alive connection, and never accepts on its behalf (no listening
    /// socket), so a broken connection ends with an error rather than a blocking accept.
    static func make(connection fd: Int32) -> UnsafeMutablePointer<FCGX_Request> {
        let request = make(listenFD: -1)
        request.pointee.ipcFd = fd
        request.pointee.keepConnection = 1
        return request
    }

    /// Closes the request's connection and frees it.
    static func release(_ request: UnsafeMutablePointer<FCGX_Request>) {
        FCGX_Free(request, 1)
        request.deallocate()
    }
}
