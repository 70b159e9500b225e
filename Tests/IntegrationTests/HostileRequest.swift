import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One crafted request of the hostile-request suite: its raw bytes, so that anything can be sent
/// (invalid UTF-8, NUL, a wrong Content-Length, an odd request line), and what its answer may be.
///
/// Every answer must be a 2xx or 4xx whose body is JSON (an `{"error": ...}` object for a 4xx,
/// OpenAI's `{"error": {...}}` under `/v1/`),
/// except that a HEAD or 204 answer has no body and a streamed `/ask` is Server-Sent Events.
struct HostileRequest {
    enum ContentLength {
        /// `Content-Length` of the body, when there is one.
        case counted
        /// No `Content-Length` (a chunked body, or a deliberately missing one).
        case omitted
        /// This exact `Content-Length` value, whatever the body.
        case stated(String)
    }

    var name: String
    var method = "GET"
    var target: [UInt8]
    var version = "HTTP/1.1"
    /// The `Host` header; nil sends none.
    var host: String? = "127.0.0.1"
    var headers: [(name: [UInt8], value: [UInt8])] = []
    var body: [UInt8]?
    var contentLength = ContentLength.counted
    /// The statuses the answer must have; nil allows any 2xx or 4xx.
    var statuses: Set<Int>?
    /// A streamed `/ask` answers with Server-Sent Events.
    var mayStream = false
    /// A 200 may be plain text (the test-only `/_test/stream`).
    var mayAnswerText = false
    /// Sent instead of the request the other fields make, byte for byte.
    var verbatim: [UInt8]?
    /// Shut the sending side after the request, so that nginx sees the end of a short body at
    /// once; it may then close without answering, since its client is gone.
    var halfClose = false

    init(_ name: String, _ method: String = "GET", _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
         statuses: Set<Int>? = nil) {
        self.name = name
        self.method = method
        self.target = Array(target.utf8)
        self.headers = headers.map { (Array($0.0.utf8), Array($0.1.utf8)) }
        self.body = body
        self.statuses = statuses
    }

    /// `bytes` sent exactly as they are.
    init(_ name: String, verbatim bytes: [UInt8], statuses: Set<Int>? = nil) {
        self.init(name, "GET", "/")
        verbatim = bytes
        self.statuses = statuses
    }

    var bytes: [UInt8] {
        if let verbatim { return verbatim }
        var out = Array("\(method) ".utf8) + target + Array(" \(version)\r\n".utf8)
        if let host { out += Array("Host: \(host)\r\n".utf8) }
        out += Array("Connection: close\r\n".utf8)
        for (name, value) in headers { out += name + Array(": ".utf8) + value + Array("\r\n".utf8) }
        switch contentLength {
        case .counted: if let body { out += Array("Content-Length: \(body.count)\r\n".utf8) }
        case .omitted: break
        case .stated(let value): out += Array("Content-Length: \(value)\r\n".utf8)
        }
        return out + Array("\r\n".utf8) + (body ?? [])
    }

    /// Sends the request on a connection of its own and reads until nginx closes it; nil when
    /// nginx closed without a byte of answer.
    func send(port: UInt16, timeoutSeconds: Int = 10) throws -> HTTPResponse? {
        let connection = try Connection(port: port, timeoutSeconds: timeoutSeconds)
        defer { connection.close() }
        connection.sendWhatIsTaken(bytes)
        if halfClose { connection.halfClose() }
        let received = try connection.readToEnd()
        guard !received.isEmpty else { return nil }
        var response = try Connection.parse(received)
        // An interim answer (100 Continue) precedes the final one.
        while (100..<200).contains(response.status), !response.body.isEmpty {
            response = try Connection.parse(response.body)
        }
        // Pipelined requests get more answers after this one.
        if let length = response.header("Content-Length").flatMap(Int.init), response.body.count > length {
            response = HTTPResponse(status: response.status, headers: response.headers, body: Array(response.body.prefix(length)))
        }
        return response
    }

    /// Whether the target is under `/v1/`, where errors are OpenAI's shape. (nginx refuses TRACE
    /// before it picks a location, with its server-wide JSON error.)
    var speaksOpenAI: Bool {
        let path = String(decoding: target.prefix { $0 != UInt8(ascii: "?") }, as: UTF8.self)
        return verbatim == nil && method != "TRACE" && (path == "/v1" || path.hasPrefix("/v1/"))
    }

    /// What is wrong with `answer`, empty when nothing is.
    func problems(with answer: HTTPResponse?) -> [String] {
        guard let answer else {
            return halfClose ? [] : ["nginx closed the connection without an answer"]
        }
        let shown = String(decoding: answer.body.prefix(200), as: UTF8.self)
        var problems: [String] = []
        if !(200..<500).contains(answer.status) {
            problems.append("status \(answer.status), not 2xx or 4xx: \(shown)")
        }
        if let statuses, !statuses.contains(answer.status) {
            problems.append("status \(answer.status), expected \(statuses.sorted()): \(shown)")
        }
        if method == "HEAD" || answer.status == 204 || answer.status == 304 {
            if !answer.body.isEmpty { problems.append("a \(method) \(answer.status) answer has a body: \(shown)") }
            return problems
        }
        let contentType = answer.header("Content-Type") ?? ""
        if mayAnswerText && answer.status == 200 && contentType.hasPrefix("text/plain") { return problems }
        if mayStream && answer.status == 200 && contentType.hasPrefix("text/event-stream") {
            if !answer.text.contains("event: done\n") { problems.append("the stream did not end with its done event: \(shown)") }
            return problems
        }
        if !contentType.hasPrefix("application/json") {
            problems.append("Content-Type \(contentType.isEmpty ? "missing" : contentType), not application/json")
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(answer.body), options: [.fragmentsAllowed]) else {
            problems.append("status \(answer.status) with a body that is not JSON: \(shown)")
            return problems
        }
        // Under /v1/, OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
        if answer.status >= 400, speaksOpenAI {
            let error = (json as? [String: Any])?["error"] as? [String: Any]
            if !(error?["message"] is String && error?["type"] is String && error?.keys.contains("param") == true && error?.keys.contains("code") == true) {
                problems.append("status \(answer.status) without OpenAI's {\"error\": {\"message\", \"type\", \"param\", \"code\"}}: \(shown)")
            }
        } else if answer.status >= 400, !((json as? [String: Any])?["error"] is String) {
            problems.append("status \(answer.status) without {\"error\": \"...\"}: \(shown)")
        }
        return problems
    }
}
