#if canImport(Glibc)
import Glibc
#endif
import Platform

/// The client's connections: the kept ones, and the host's addresses to open new ones to.
extension PlainHTTPClient {
    /// A kept connection with nothing waiting on it: one the upstream closed, or one with bytes
    /// after its last answer (which would be read as the next one's), is closed instead.
    func takeIdle() -> UpstreamConnection? {
        while let connection = connections.withLock({ $0.idle.popLast() }) {
            var byte: UInt8 = 0
            if recv(connection.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return connection
            }
        }
        return nil
    }

    func keep(_ connection: UpstreamConnection) {
        connection.reused = true
        connection.idleSince = MonotonicClock.now()
        connections.withLock { connections in
            if connections.idle.count < Self.idleConnectionLimit { connections.idle.append(connection) }
        }
    }

    /// The address `connection` reached goes first in the list, so that new connections try it
    /// first (a refused or silent IPv6 address is not tried again each time).
    func promote(_ connection: UpstreamConnection) {
        let address = connection.addresses[connection.addressIndex]
        connections.withLock { connections in
            guard let index = connections.addresses.firstIndex(of: address), index > 0 else { return }
            connections.addresses.insert(connections.addresses.remove(at: index), at: 0)
        }
    }

    /// The host's addresses: the last lookup's while it is fresh, or while another thread looks
    /// the host up again. The loop's thread never waits on a lookup (`mayResolve` false); another
    /// thread with no address known waits for the lookup in flight.
    func addresses(mayResolve: Bool) -> Result<[SocketAddress], UpstreamConnection.Failure> {
        let now = MonotonicClock.now()
        let (known, failure, due, resolving) = connections.withLock { connections in
            (
                connections.addresses.isEmpty ? nil : connections.addresses, connections.failure,
                now - connections.resolvedAt >= Self.resolveEverySeconds && now - connections.failedAt >= Self.resolveFailureSeconds,
                connections.resolving
            )
        }
        let unknown = UpstreamConnection.Failure(detail: failure.isEmpty ? "\(endpoint.host) is not resolved yet" : failure)
        guard mayResolve, due else { return known.map { .success($0) } ?? .failure(unknown) }
        if let known, resolving { return .success(known) }
        return lookup.withLock { resolveNow(known: known) }
    }

    /// Looks the host up, unless the lookup this caller waited for answered already; holds `lookup`.
    func resolveNow(known: [SocketAddress]?) -> Result<[SocketAddress], UpstreamConnection.Failure> {
        let now = MonotonicClock.now()
        let settled: Result<[SocketAddress], UpstreamConnection.Failure>? = connections.withLock { connections in
            if now - connections.resolvedAt < Self.resolveEverySeconds { return .success(connections.addresses) }
            if now - connections.failedAt < Self.resolveFailureSeconds {
                return connections.addresses.isEmpty ? .failure(.init(detail: connections.failure)) : .success(connections.addresses)
            }
            connections.resolving = true
            return nil
        }
        if let settled { return settled }
        let resolved = SocketAddress.resolve(host: endpoint.host, port: endpoint.port)
        connections.withLock { connections in
            connections.resolving = false
            switch resolved {
            case .success(var addresses):
                // The address that connected last stays first, if the host still has it.
                if let first = connections.addresses.first, let index = addresses.firstIndex(of: first), index > 0 {
                    addresses.insert(addresses.remove(at: index), at: 0)
                }
                connections.addresses = addresses
                connections.resolvedAt = now
            case .failure(let failure):
                connections.failedAt = now
                connections.failure = failure.detail
            }
        }
        // A failed lookup leaves the addresses known before in use.
        if case .failure = resolved, let known { return .success(known) }
        return connections.withLock { connections in connections.addresses.isEmpty ? resolved : .success(connections.addresses) }
    }
}
