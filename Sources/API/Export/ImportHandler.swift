import Auth
import FoundationEssentials
import HTTP
import JSON
import Store

/// `POST /conversations/import`: JSON Lines as `GET /conversations/export` writes them, one
/// conversation a line, stored for the caller under new ids, all in one transaction or none.
/// Blank lines are skipped. The body has its own limit (`ASKD_MAX_IMPORT_BYTES`). Imported
/// messages are not counted in the caller's usage: no model answered them here.
public struct ImportHandler: Sendable {
    let store: any ConversationStore
    let verifier: any TokenVerifier

    public init(store: any ConversationStore, verifier: any TokenVerifier) {
        self.store = store
        self.verifier = verifier
    }

    /// `201 {"imported": N, "conversations": [{"id", "source_id"}]}`, in the order of the lines;
    /// a line that cannot be imported is a 400 that names it, and nothing is stored.
    public func handle(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        if let coding = request.headers["Content-Encoding"], MediaType.of(contentType: coding) != "identity" {
            throw HTTPError(.unsupportedMediaType, "unsupported Content-Encoding \(coding); send the body unencoded")
        }
        let lines = try Self.lines(of: request.body, owner: token.id, now: Date())
        try store.insertConversations(lines.map { ImportedConversation(conversation: $0.conversation, messages: $0.messages, versions: $0.versions) })
        let created: [JSONValue] = lines.map { line in
            .object(["id": .string(line.conversation.id), "source_id": line.sourceID.map(JSONValue.string) ?? .null])
        }
        return .json(.created, JSONValue.object(["imported": .integer(lines.count), "conversations": .array(created)]).serialized)
    }

    /// The conversations of `body`, each under a new id.
    /// - Throws: 400 naming the first line that cannot be imported, and why.
    static func lines(of body: [UInt8], owner: String, now: Date) throws -> [ImportLine] {
        var lines: [ImportLine] = []
        var number = 0
        var start = body.startIndex
        while start < body.endIndex {
            number += 1
            let end = body[start...].firstIndex(of: UInt8(ascii: "\n")) ?? body.endIndex
            var line = body[start..<end]
            start = end < body.endIndex ? end + 1 : end
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            guard line.contains(where: { ![0x20, 0x09].contains($0) }) else { continue }
            do {
                lines.append(try ImportLine(bytes: line, id: ConversationID.make(), owner: owner, now: now))
            } catch {
                throw HTTPError.badRequest("line \(number): \(error.message)")
            }
        }
        return lines
    }
}
