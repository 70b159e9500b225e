#if canImport(Glibc)
import Glibc
#endif
import API
import FastCGI
import HTTP
import JSON
import Logging

/// FastCGI params and body to a `Request`, then through an `Application` as a worker answers it.
///
/// Input: an options byte (bit 0: the connection breaks off after the body; bits 1-2: the body
/// limit, 0, 1, 64 or 4096 bytes), a seed for the body's record splits, then `NAME=value` params
/// separated by NUL, then two NULs and the body.
///
/// Invariants: `RequestReader.parameters` keeps exactly the used `NAME=value` entries; the
/// request's method, path, query, headers and body length are what the params say (the last of
/// each wins; REQUEST_URI over DOCUMENT_URI); the body is read whole, or is a 413 exactly when
/// it is over the limit, or a 400 exactly when it ends early, runs past CONTENT_LENGTH or breaks
/// off; every answer has a JSON body, a request id, and a 200, 400, 404, 405, 413 or 415 status.
public enum FastCGIFuzz {
    static let limits = [0, 1, 64, 4096]
    static let application: Application = {
        var router = Router()
        router.post("/ask") { request in
            let fields = try BodyFields(of: request).fields
            let id = try request.queryParameter("conversation_id")
            return .json(.ok, JSONValue.object(["fields": .object(fields), "id": id.map(JSONValue.string) ?? .null]).serialized)
        }
        router.get("/conversations") { request in
            let cursor = try request.queryParameter("cursor").map(ConversationsHandler.cursor(from:))
            return .json(.ok, JSONValue.object(["id": cursor.map { .string($0.id) } ?? .null]).serialized)
        }
        router.get("/conversation/{conversation_id}") { request in
            guard let id = request.parameters["conversation_id"], ConversationID.isWellFormed(id) else { throw HTTPError.notFound() }
            return .json(.ok, JSONValue.object(["id": .string(id)]).serialized)
        }
        return Application(router: router, logger: Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() })
    }()

    public static func check(_ bytes: [UInt8]) {
        var input = FuzzReader(bytes)
        let options = input.byte()
        let cutOff = options & 1 == 1
        let limit = limits[Int(options >> 1 & 3)]
        var generator = SplitMix64(seed: UInt64(input.byte()))
        let rest = input.rest()
        let separator = (0..<max(rest.count - 1, 0)).first { rest[$0] == 0 && rest[$0 + 1] == 0 }
        let entries = (separator.map { rest[..<$0] } ?? rest[...]).split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
        let body = separator.map { Array(rest[($0 + 2)...]) } ?? []

        let params = parameters(of: entries)
        var (request, length) = RequestParameters.request(from: params)
        checkRequest(request, length: length, params: params)

        var ends: [Int] = []
        while (ends.last ?? 0) < body.count {
            ends.append(min((ends.last ?? 0) + 1 + Int(generator.next() % 64), body.count))
        }
        let stream = MemoryInputStream(body, chunkEnds: ends, cutOff: cutOff)
        let response: Response
        do {
            let length = try length.get()
            let read = try RequestReader.body(from: stream.stream, length: length, limit: limit)
            require(!cutOff && read == body, "read \(read.count) bytes of a body of \(body.count)")
            if case .exactly(let count) = length { require(count == body.count, "read \(count) of \(body.count) bytes") }
            request.body = read
            response = application.respond(to: &request)
        } catch let error as HTTPError {
            checkBodyError(error, length: length, body: body, limit: limit, cutOff: cutOff)
            response = application.respond(to: &request, failingWith: error)
        } catch {
            fatalError("reading the body threw \(error), not an HTTPError")
        }
        checkResponse(response, request: request)
    }

    /// The params as libfcgi passes them, an `envp` array of C strings, through `RequestReader`.
    private static func parameters(of entries: [[UInt8]]) -> [(name: String, value: String)] {
        let envp = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: entries.count + 1)
        defer { envp.deallocate() }
        for (index, entry) in entries.enumerated() {
            let string = UnsafeMutablePointer<CChar>.allocate(capacity: entry.count + 1)
            for (offset, byte) in entry.enumerated() { string[offset] = CChar(bitPattern: byte) }
            string[entry.count] = 0
            envp[index] = string
        }
        envp[entries.count] = nil
        defer { for index in entries.indices { envp[index]?.deallocate() } }
        let params = RequestReader.parameters(envp)

        let used = ["HTTP_", "CONTENT_", "REQUEST_", "REMOTE_ADDR=", "DOCUMENT_URI=", "QUERY_STRING="]
        let expected = entries.compactMap { entry -> (name: String, value: String)? in
            guard used.contains(where: { entry.starts(with: $0.utf8) }), let equals = entry.firstIndex(of: UInt8(ascii: "=")) else { return nil }
            return (String(decoding: entry[..<equals], as: UTF8.self), String(decoding: entry[(equals + 1)...], as: UTF8.self))
        }
        require(params.elementsEqual(expected) { $0 == $1 }, "params \(params) from entries \(entries), expected \(expected)")
        return params
    }

    private static func checkRequest(_ request: Request, length: Result<BodyLength, HTTPError>, params: [(name: String, value: String)]) {
        func last(_ name: String) -> String? { params.last { $0.name == name }?.value }
        require(request.method == last("REQUEST_METHOD") ?? "GET", "method \(request.method)")
        require(request.remoteAddress == last("REMOTE_ADDR") ?? "", "remote address \(request.remoteAddress)")
        var path = last("DOCUMENT_URI") ?? "/"
        var query = last("QUERY_STRING")
        if let uri = last("REQUEST_URI"), !uri.isEmpty {
            let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            path = String(parts[0])
            if query == nil, parts.count > 1 { query = String(parts[1]) }
        }
        require(request.path == path, "path \(request.path.debugDescription), expected \(path.debugDescription)")
        require(request.query == query ?? "", "query \(request.query.debugDescription), expected \(query.debugDescription)")

        let headers = params.filter { $0.name.hasPrefix("HTTP_") && $0.name != "HTTP_PROXY" }
        let contentType = params.filter { $0.name == "CONTENT_TYPE" && !$0.value.isEmpty }
        let contentLength = params.filter { $0.name == "CONTENT_LENGTH" && !$0.value.isEmpty }
        require(request.headers.count == headers.count + contentType.count + contentLength.count, "\(request.headers.count) headers")
        for field in request.headers {
            require(
                !field.name.utf8.contains { (0x41...0x5A).contains($0) || $0 == UInt8(ascii: "_") },
                "header name \(field.name.debugDescription) keeps upper case or an underscore"
            )
        }
        switch (contentLength.last?.value, length) {
        case (nil, .success(.untilEndOfStream)):
            break
        case (let text?, .success(.exactly(let count))):
            require(text.utf8.allSatisfy { (0x30...0x39).contains($0) } && Int(text) == count, "CONTENT_LENGTH \(text) read as \(count)")
        case (let text?, .failure(let error)):
            require(error.status == .badRequest, "CONTENT_LENGTH \(text) is a \(error.status)")
            require(!text.utf8.allSatisfy { (0x30...0x39).contains($0) } || Int(text) == nil, "CONTENT_LENGTH \(text) refused")
        default:
            fatalError("CONTENT_LENGTH \(contentLength.last?.value ?? "none") read as \(length)")
        }
    }

    private static func checkBodyError(_ error: HTTPError, length: Result<BodyLength, HTTPError>, body: [UInt8], limit: Int, cutOff: Bool) {
        guard case .success(let length) = length else { return }
        let expected: HTTPStatus = switch length {
        case .exactly(let count) where count > limit: .contentTooLarge
        case .exactly: .badRequest
        case .untilEndOfStream: body.count > limit ? .contentTooLarge : .badRequest
        }
        require(error.status == expected, "a body of \(body.count) bytes (\(length), limit \(limit), cut off: \(cutOff)) is a \(error.status)")
        if case .exactly(let count) = length, count <= limit {
            require(count != body.count || cutOff, "a whole body of \(count) bytes refused")
        }
        if case .untilEndOfStream = length, body.count <= limit {
            require(cutOff, "a whole body of \(body.count) bytes without length refused")
        }
    }

    private static func checkResponse(_ response: Response, request: Request) {
        require([200, 400, 404, 405, 413, 415].contains(response.status.code), "status \(response.status) for \(request)")
        let id = response.headers["X-Request-Id"]
        require(id != nil && id == request.id && RequestID.sanitized(id) == id, "request id \(id.debugDescription)")
        if let sent = RequestID.sanitized(request.headers["x-request-id"]) {
            require(id == sent, "request id \(id.debugDescription), the client sent \(sent)")
        }
        guard case .bytes(let bytes) = response.body else { fatalError("a \(response.status) that is not bytes") }
        let json = try? JSONParser.parse(bytes, maxDepth: 64)
        require(json?.object != nil, "body \(String(decoding: bytes, as: UTF8.self)) is not a JSON object")
        if response.status != .ok { require(json?["error"]?.string != nil, "error body without an error") }
    }
}
