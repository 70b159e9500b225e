import Auth
import FoundationEssentials
import HTTP
import JSON
import Platform
import Store

/// `POST /conversations/import`: JSON Lines as `GET /conversations/export` writes them, one
/// conversation a line, stored for the caller under new ids, all in one transaction or none.
/// Blank lines are skipped. The body has its own limit (`ASKD_MAX_IMPORT_BYTES`). Imported
/// messages are not counted in the caller's usage: no model answered them here.
public struct ImportHandler: Sendable {
    let store: any ConversationStore
    let verifier: any TokenVerifier
    /// The imports this process is reading now.
    let running: Locked<Int>

    /// The most imports a process reads at once; one more is a 503. Each holds its parse,
    /// about 1.4 times its body, until its transaction: four of `ASKD_MAX_IMPORT_BYTES`'s
    /// default 64 MiB hold some 360 MB.
    static let maxRunning = 4

    public init(store: any ConversationStore, verifier: any TokenVerifier) {
        self.store = store
        self.verifier = verifier
        running = Locked(0)
    }

    /// `201 {"imported": N, "conversations": [{"id", "source_id"}]}`, in the order of the lines;
    /// a line that cannot be imported is a 400 that names it, and nothing is stored.
    public func handle(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        if let coding = request.headers["Content-Encoding"], MediaType.of(contentType: coding) != "identity" {
            throw HTTPError(.unsupportedMediaType, "unsupported Content-Encoding \(coding); send the body unencoded")
        }
        let admitted = running.withLock { count in
            guard count < Self.maxRunning else { return false }
            count += 1
            return true
        }
        guard admitted else { throw HTTPError(.serviceUnavailable, "too many imports are running; try again shortly", headers: ["Retry-After": "5"]) }
        defer { running.withLock { $0 -= 1 } }
        let lines = try Self.lines(from: request.bodyReader, owner: token.id, now: Date())
        try store.insertConversations(lines.map { ImportedConversation(conversation: $0.conversation, messages: $0.messages, versions: $0.versions) })
        let created: [JSONValue] = lines.map { line in
            .object(["id": .string(line.conversation.id), "source_id": line.sourceID.map(JSONValue.string) ?? .null])
        }
        return .json(.created, JSONValue.object(["imported": .integer(lines.count), "conversations": .array(created)]).serialized)
    }

    /// The conversations of the body, each under a new id, parsed a line at a time as the body
    /// is read: the body is never held whole besides what is parsed of it.
    /// - Throws: 400 naming the first line that cannot be imported, and why; the source's 413
    ///   or 400 when the body is too large or cut off.
    static func lines(from source: any RequestBodySource, owner: String, now: Date) throws -> [ImportLine] {
        var lines: [ImportLine] = []
        var number = 0
        var pending: [UInt8] = []
        func take(_ line: ArraySlice<UInt8>) throws {
            number += 1
            var line = line
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            guard line.contains(where: { ![0x20, 0x09].contains($0) }) else { return }
            do {
                lines.append(try ImportLine(bytes: line, id: ConversationID.make(), owner: owner, now: now))
            } catch {
                throw HTTPError.badRequest("line \(number): \(error.message)")
            }
        }
        while true {
            let chunk = try source.read(maxCount: 64 * 1024)
            guard !chunk.isEmpty else { break }
            var start = chunk.startIndex
            while let end = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
                if pending.isEmpty {
                    try take(chunk[start..<end])
                } else {
                    pending += chunk[start..<end]
                    try take(pending[...])
                    pending.removeAll(keepingCapacity: true)
                }
                start = end + 1
            }
            pending += chunk[start...]
        }
        if !pending.isEmpty { try take(pending[...]) }
        return lines
    }
}
