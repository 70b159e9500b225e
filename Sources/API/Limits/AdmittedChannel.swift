import HTTP

/// The `ResponseChannel` of an admitted request: its `x-ratelimit-*` headers go on the answer,
/// whatever it is, and its ticket ends before the answer's last byte goes out, so that a client
/// that sends its next request on reading the answer finds its slot free.
final class AdmittedChannel: ResponseChannel, @unchecked Sendable {
    private let channel: any ResponseChannel
    private let request: AdmittedRequest

    init(_ channel: any ResponseChannel, request: AdmittedRequest) {
        self.channel = channel
        self.request = request
    }

    var requestID: String { channel.requestID }
    var started: Bool { channel.started }
    var clientIsGone: Bool { channel.clientIsGone }
    var mustEndNow: Bool { channel.mustEndNow }

    func addUpstreamWait(_ seconds: Double) {
        channel.addUpstreamWait(seconds)
    }

    func begin(status: HTTPStatus, headers: HTTPHeaders) {
        channel.begin(status: status, headers: adding(to: headers))
    }

    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        channel.write(bytes)
    }

    func end() {
        request.finish()
        channel.end()
    }

    func respond(_ response: Response) {
        request.finish()
        var response = response
        response.headers = adding(to: response.headers)
        channel.respond(response)
    }

    func fail(_ error: any Error) {
        request.finish()
        guard var error = (error as? HTTPError) ?? (error as? any HTTPErrorConvertible)?.httpError else {
            channel.fail(error)
            return
        }
        error.headers = adding(to: error.headers)
        channel.fail(error)
    }

    private func adding(to headers: HTTPHeaders) -> HTTPHeaders {
        var headers = headers
        for (name, value) in request.headers where !headers.contains(name) { headers.add(name: name, value: value) }
        return headers
    }
}
