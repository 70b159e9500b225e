import Foundation
import HTTP
import Platform

/// A `ResponseChannel` that records what a handler sends later, as the transport would send
/// it, and can play a client that leaves.
final class RecordingChannel: ResponseChannel, @unchecked Sendable {
    let requestID: String
    private let application: Application
    private let request: Request
    private let lock = NSLock()
    private let ended = Handoff<Void>()
    private var _status = 0
    private var _headers = HTTPHeaders()
    private var _chunks: [String] = []
    private var _started = false
    private var _gone = false
    private var _failure: (any Error)?
    /// The client leaves at this write (counting from 0): it and those after it fail.
    var leaveAtWrite: Int?
    /// Play a server whose drain time runs out once this many writes went out.
    var mustEndAfterWrites: Int?
    /// Runs once, before the first write.
    var onFirstWrite: (@Sendable () -> Void)?

    init(application: Application, request: Request) {
        self.application = application
        self.request = request
        requestID = request.id
    }

    var status: Int { lock.withLock { _status } }
    var headers: HTTPHeaders { lock.withLock { _headers } }
    var chunks: [String] { lock.withLock { _chunks } }
    /// The error the response ended with, if it failed.
    var failure: (any Error)? { lock.withLock { _failure } }
    var started: Bool { lock.withLock { _started } }
    var clientIsGone: Bool { lock.withLock { _gone } }
    func addUpstreamWait(_ seconds: Double) {}
    var mustEndNow: Bool { lock.withLock { mustEndAfterWrites.map { _chunks.count >= $0 } ?? false } }

    func begin(status: HTTPStatus, headers: HTTPHeaders) {
        lock.withLock {
            _started = true
            _status = status.code
            _headers = application.stamped(Response(status: status, headers: headers), id: requestID).headers
        }
    }

    func write(_ bytes: [UInt8]) -> Bool {
        let first = lock.withLock { () -> (@Sendable () -> Void)? in
            defer { onFirstWrite = nil }
            return onFirstWrite
        }
        first?()
        return lock.withLock {
            if let leaveAtWrite, _chunks.count >= leaveAtWrite { _gone = true }
            guard !_gone else { return false }
            _chunks.append(String(decoding: bytes, as: UTF8.self))
            return true
        }
    }

    func end() {
        ended.put(())
    }

    func respond(_ response: Response) {
        let stamped = application.stamped(response, id: requestID)
        lock.withLock {
            _started = true
            _status = stamped.status.code
            _headers = stamped.headers
            if case .bytes(let bytes) = stamped.body { _chunks = [String(decoding: bytes, as: UTF8.self)] }
        }
        ended.put(())
    }

    func fail(_ error: any Error) {
        lock.withLock { _failure = error }
        if started {
            end()
        } else {
            respond(application.errorResponse(for: error, request: request))
        }
    }

    /// Waits for the response to end.
    func waitForEnd() {
        ended.take()
    }

    /// The body as JSON, for a plain answer.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(chunks.joined().utf8))) as? [String: Any] ?? [:]
    }

    /// The events written, as (event type, JSON data).
    var events: [(String?, [String: Any])] {
        chunks.joined().components(separatedBy: "\n\n").compactMap { block in
            var event: String?
            var data: String?
            for line in block.split(separator: "\n") {
                if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
            }
            guard let data, let json = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else { return nil }
            return (event, json)
        }
    }
}

extension Application {
    /// Answers `request` as the transport would, waiting for an answer sent later; the channel
    /// that recorded it, or nil when the handler answered at once.
    func respondAndWait(to request: inout Request, preparing prepare: (RecordingChannel) -> Void = { _ in }) -> (Response, RecordingChannel?) {
        let response = respond(to: &request)
        guard case .later(let start) = response.body else { return (response, nil) }
        let channel = RecordingChannel(application: self, request: request)
        prepare(channel)
        start(channel)
        channel.waitForEnd()
        var headers = channel.headers
        if headers["X-Request-Id"] == nil { headers.add(name: "X-Request-Id", value: request.id) }
        return (Response(status: HTTPStatus(code: channel.status), headers: headers, body: .bytes(Array(channel.chunks.joined().utf8))), channel)
    }
}
