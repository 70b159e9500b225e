#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Platform

/// One request to a plain-http upstream and its response, owned by one thread at a time: the
/// thread that submitted it until it is first armed, then whichever claims it from the client's
/// waiting list (the client's loop thread).
final class PlainHTTPExchange {
    enum Phase {
        case connecting
        case sending
        case receiving
    }

    /// What a step on the socket came to.
    enum Step {
        /// Wait for the socket to be readable (`EPOLLIN`) or writable (`EPOLLOUT`), then go on.
        case wait(UInt32)
        case answered(PlainHTTPClient.Reply)
        /// The connection failed; `beforeAnswer` when no byte of a response had come.
        case broken(String, beforeAnswer: Bool)
    }

    let tag: UInt64
    let call: PlainHTTPClient.Call
    /// When the whole exchange times out (the upstream timeout), on `MonotonicClock`.
    let deadline: Double
    var phase = Phase.sending
    var connection: UpstreamConnection?
    /// When connecting times out, while it lasts.
    var connectDeadline = Double.infinity
    private var sent = 0
    private var parser: HTTPResponseParser

    init(tag: UInt64, call: PlainHTTPClient.Call, deadline: Double, bodyLimit: Int) {
        self.tag = tag
        self.call = call
        self.deadline = deadline
        parser = HTTPResponseParser(bodyLimit: bodyLimit)
    }

    /// Starts again from the request's first byte on `connection`.
    func attach(_ connection: UpstreamConnection, connectTimeout: Double) {
        self.connection = connection
        sent = 0
        parser = HTTPResponseParser(bodyLimit: parser.bodyLimit)
        phase = connection.connecting ? .connecting : .sending
        connectDeadline = connection.connecting ? MonotonicClock.now() + connectTimeout : .infinity
    }

    /// Sends what is left of the request, then reads the response as far as it has come.
    func proceed(receiveBuffer: UnsafeMutableRawBufferPointer?) -> Step {
        guard let connection else { return .broken("no connection", beforeAnswer: true) }
        if phase == .sending {
            let request = call.request
            while sent < request.count {
                let count = request.withUnsafeBytes { bytes in
                    send(connection.fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                }
                if count > 0 {
                    sent += count
                } else if errno == EAGAIN || errno == EWOULDBLOCK {
                    return .wait(EPOLLOUT.rawValue)
                } else if errno != EINTR {
                    return .broken("sending the request: \(SystemError("send"))", beforeAnswer: true)
                }
            }
            phase = .receiving
            // The answer takes at least a round trip: wait for it rather than try a read now.
            guard let receiveBuffer else { return .wait(EPOLLIN.rawValue) }
            return receive(on: connection, into: receiveBuffer)
        }
        guard let receiveBuffer else { return .wait(EPOLLIN.rawValue) }
        return receive(on: connection, into: receiveBuffer)
    }

    private func receive(on connection: UpstreamConnection, into buffer: UnsafeMutableRawBufferPointer) -> Step {
        while true {
            let count = recv(connection.fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 {
                do {
                    if try parser.feed(UnsafeRawBufferPointer(rebasing: buffer[..<count])) { return .answered(reply()) }
                } catch {
                    return .broken("an unreadable HTTP response: \(error)", beforeAnswer: false)
                }
            } else if count == 0 {
                if parser.connectionClosed() { return .answered(reply()) }
                return .broken("the upstream closed the connection before the answer was complete", beforeAnswer: !parser.started)
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return .wait(EPOLLIN.rawValue)
            } else if errno != EINTR {
                return .broken("reading the answer: \(SystemError("recv"))", beforeAnswer: !parser.started)
            }
        }
    }

    /// Whether the connection may be kept for another exchange once this one is answered.
    var connectionReusable: Bool { parser.connectionReusable }

    private func reply() -> PlainHTTPClient.Reply {
        let head = parser.head ?? HTTPResponseParser.Head()
        return PlainHTTPClient.Reply(status: head.status, body: parser.body, retryAfter: head.retryAfter, contentType: head.contentType)
    }
}
