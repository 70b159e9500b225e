#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Platform

/// One request to a plain-http upstream and its response, owned by one thread at a time: the
/// thread that submitted it until it is first armed, then whichever takes it out of the
/// client's waiting list (the client's loop thread, on an event or in its sweep).
final class PlainHTTPExchange {
    enum Phase {
        case connecting
        case sending
        case receiving
    }

    /// What a step on the socket came to.
    enum Step {
        /// Wait for these epoll events, then go on.
        case wait(UInt32)
        case answered(PlainHTTPClient.Reply)
        /// The connection failed. `resendable` when no byte of an answer had come and the
        /// failure came while sending or just after: a kept connection the upstream had closed,
        /// not a request it may have worked on.
        case broken(String, resendable: Bool)
    }

    /// How long after its last byte a request that fails without any answer may be sent again:
    /// long enough for a busy loop to read the failure, far shorter than a model's answer.
    static let resendWindowSeconds = 1.0
    /// The most bytes one step reads, so that one upstream cannot hold the loop's thread.
    static let readsPerStep = 16

    let tag: UInt64
    let call: PlainHTTPClient.Call
    /// When the whole exchange times out (the upstream timeout), on `MonotonicClock`.
    let deadline: Double
    private(set) var phase = Phase.sending
    var connection: UpstreamConnection?
    /// When connecting times out, while it lasts.
    private(set) var connectDeadline = Double.infinity
    private var sent = 0
    /// When the request's last byte went out.
    private var sentAt = Double.infinity
    /// The upstream answered before it read the whole request: the connection is not kept.
    private var answeredEarly = false
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
        sentAt = .infinity
        answeredEarly = false
        parser = HTTPResponseParser(bodyLimit: parser.bodyLimit)
        phase = connection.connecting ? .connecting : .sending
        connectDeadline = connection.connecting ? MonotonicClock.now() + connectTimeout : .infinity
    }

    /// The connection finished connecting: the request goes out next.
    func connected() {
        connection?.connecting = false
        phase = .sending
        connectDeadline = .infinity
    }

    /// Sends what is left of the request, then (given a buffer: on the loop's thread) reads the
    /// response as far as it has come.
    func proceed(receiveBuffer: UnsafeMutableRawBufferPointer?) -> Step {
        guard let connection else { return .broken("no connection", resendable: false) }
        if phase == .sending {
            let request = call.request
            while sent < request.count {
                let count = request.withUnsafeBytes { bytes in
                    send(connection.fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                }
                if count > 0 {
                    sent += count
                } else if errno == EAGAIN || errno == EWOULDBLOCK {
                    // The upstream may answer (a 413, say) before it reads the rest: watch for both.
                    guard let receiveBuffer else { return .wait(EPOLLOUT.rawValue | EPOLLIN.rawValue) }
                    switch receive(on: connection, into: receiveBuffer) {
                    case .wait: return .wait(EPOLLOUT.rawValue | EPOLLIN.rawValue)
                    case let step:
                        answeredEarly = true
                        return step
                    }
                } else if errno != EINTR {
                    // An answer it sent before closing may wait unread: read that first. The
                    // request never went out whole (`sentAt` stays unset), so it may be sent again.
                    answeredEarly = true
                    phase = .receiving
                    return receiveBuffer.map { receive(on: connection, into: $0) } ?? .wait(EPOLLIN.rawValue)
                }
            }
            phase = .receiving
            sentAt = MonotonicClock.now()
            // Part of an answer came while the request was still going out.
            answeredEarly = answeredEarly || parser.started
            // The answer takes at least a round trip: wait for it rather than try a read now.
            return .wait(EPOLLIN.rawValue)
        }
        guard let receiveBuffer else { return .wait(EPOLLIN.rawValue) }
        return receive(on: connection, into: receiveBuffer)
    }

    private func receive(on connection: UpstreamConnection, into buffer: UnsafeMutableRawBufferPointer) -> Step {
        for _ in 0..<Self.readsPerStep {
            let count = recv(connection.fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 {
                do {
                    if try parser.feed(UnsafeRawBufferPointer(rebasing: buffer[..<count])) { return .answered(reply()) }
                } catch {
                    return .broken("an unreadable HTTP response: \(error)", resendable: false)
                }
            } else if count == 0 {
                if parser.connectionClosed() { return .answered(reply()) }
                return .broken("the upstream closed the connection before the answer was complete", resendable: resendable)
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return .wait(EPOLLIN.rawValue)
            } else if errno != EINTR {
                return .broken("reading the answer: \(SystemError("recv"))", resendable: resendable)
            }
        }
        // More is coming: the loop goes on with other exchanges, then with this one.
        return .wait(EPOLLIN.rawValue)
    }

    /// No answer came, and the request failed while going out or just after (`sentAt` is
    /// infinite until its last byte went out).
    private var resendable: Bool {
        !parser.started && (sentAt == .infinity || MonotonicClock.now() - sentAt <= Self.resendWindowSeconds)
    }

    /// Whether the connection may be kept for another exchange once this one is answered.
    var connectionReusable: Bool { parser.connectionReusable && !answeredEarly }

    private func reply() -> PlainHTTPClient.Reply {
        let head = parser.head ?? HTTPResponseParser.Head()
        return PlainHTTPClient.Reply(status: head.status, body: parser.body, retryAfter: head.retryAfter, contentType: head.contentType)
    }
}
