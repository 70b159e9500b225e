import FoundationEssentials
import JSON

/// The members every answer and every chunk of one call carries alike: `id`, `object`,
/// `created` and `model`. They come from the upstream's first answer or chunk; what it left out
/// (some compatible servers do) is made up once, so that strict clients find them all, and the
/// same in every chunk.
struct CompletionHead: Sendable {
    let id: String
    let object: String
    let created: Int
    let model: String

    /// The head of `fields`, with what is missing filled in.
    init(of fields: [String: JSONValue], object: String, requestID: String, model: String) {
        if case .string(let id)? = fields["id"], !id.isEmpty { self.id = id } else { id = "chatcmpl-\(requestID)" }
        self.object = object
        created = fields["created"]?.integer ?? Int(Date().timeIntervalSince1970)
        if case .string(let name)? = fields["model"], !name.isEmpty { self.model = name } else { self.model = model }
    }

    /// The members of `fields` that differ from this head, with the values they should have.
    func corrections(to fields: [String: JSONValue]) -> [(String, JSONValue)] {
        var wrong: [(String, JSONValue)] = []
        if fields["id"]?.string != id { wrong.append(("id", .string(id))) }
        if fields["object"]?.string != object { wrong.append(("object", .string(object))) }
        if fields["created"]?.integer != created { wrong.append(("created", .integer(created))) }
        if fields["model"]?.string != model { wrong.append(("model", .string(model))) }
        return wrong
    }

    /// `bytes` (the JSON object read as `fields`) with this head: unchanged when it has it already.
    func applied(to bytes: [UInt8], fields: [String: JSONValue]) -> [UInt8] {
        let wrong = corrections(to: fields)
        guard !wrong.isEmpty, var members = JSONMembers(bytes) else { return bytes }
        for (name, value) in wrong { members.set(name, raw: value.serialized) }
        return members.serialized
    }
}
