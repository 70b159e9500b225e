#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Platform

/// One thread that waits, with epoll, for the connections whose `OutputChannel` has bytes the
/// socket could not take, and sends them when it can. Once a second it drops the clients that
/// have read nothing for the send timeout.
///
/// Each channel is watched with EPOLLONESHOT under its own tag, and looked up by that tag: an
/// event that arrives after its channel finished (and its descriptor went to another
/// connection) finds nothing.
final class DeliveryLoop: @unchecked Sendable {
    private let epoll: Int32
    private let sendTimeoutSeconds: Double
    private let watched = Locked<(channels: [UInt64: OutputChannel], started: Bool)>(([:], false))

    init(sendTimeoutSeconds: Double) {
        self.sendTimeoutSeconds = sendTimeoutSeconds
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
    }

    deinit {
        close(epoll)
    }

    /// Wakes `channel.socketIsWritable` once its socket can take more.
    func watch(_ channel: OutputChannel) {
        let start = watched.withLock { watched in
            watched.channels[channel.tag] = channel
            defer { watched.started = true }
            return !watched.started
        }
        if start { try? DetachedThread.start(name: "askd-delivery") { [self] in run() } }
        var event = epoll_event()
        event.events = EPOLLOUT.rawValue | EPOLLONESHOT.rawValue
        event.data.u64 = channel.tag
        if epoll_ctl(epoll, EPOLL_CTL_MOD, channel.descriptor, &event) != 0 {
            epoll_ctl(epoll, EPOLL_CTL_ADD, channel.descriptor, &event)
        }
    }

    /// Stops watching a channel that finished; its descriptor is about to be parked or closed.
    func forget(_ channel: OutputChannel) {
        let known = watched.withLock { $0.channels.removeValue(forKey: channel.tag) != nil }
        if known { epoll_ctl(epoll, EPOLL_CTL_DEL, channel.descriptor, nil) }
    }

    private func run() {
        var everything = sigset_t()
        sigfillset(&everything)
        pthread_sigmask(SIG_BLOCK, &everything, nil)
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        var nextCheck = MonotonicClock.now() + 1
        while true {
            let count = epoll_wait(epoll, &events, Int32(events.count), 1_000)
            for event in events.prefix(Int(max(count, 0))) {
                let channel = watched.withLock { $0.channels[event.data.u64] }
                channel?.socketIsWritable()
            }
            let now = MonotonicClock.now()
            guard now >= nextCheck else { continue }
            nextCheck = now + 1
            for channel in watched.withLock({ Array($0.channels.values) }) {
                channel.dropIfStalled(now: now, limit: sendTimeoutSeconds)
            }
        }
    }
}
