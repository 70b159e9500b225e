import HTTP

/// A request body that must be a JSON object, read the same way by every endpoint that takes one.
enum JSONBody {
    /// How deep a body may nest. The endpoints need depth 1 or 2; the parser recurses per level,
    /// and a worker's stack is small.
    static let maxDepth = 16

    /// Whether `mediaType` (see `MediaType.of`) names JSON.
    static func isJSON(_ mediaType: String) -> Bool {
        mediaType == "application/json" || mediaType == "text/json"
    }

    /// The members of the body's object.
    /// - Throws: 400 for invalid UTF-8, malformed JSON (with the byte where it goes wrong), too
    ///   deep a nesting, or a value that is not an object.
    static func fields(of body: [UInt8]) throws(HTTPError) -> [String: JSONValue] {
        guard String(validating: body, as: UTF8.self) != nil else { throw .badRequest("the body is not valid UTF-8") }
        let value: JSONValue
        do {
            value = try JSONParser.parse(body, maxDepth: maxDepth)
        } catch {
            switch error {
            case .tooDeep: throw .badRequest("the body nests deeper than \(maxDepth) levels")
            case .invalid(let offset): throw .badRequest("the body is not valid JSON (at byte \(offset))")
            }
        }
        guard case .object(let fields) = value else {
            throw .badRequest("the body must be a JSON object, not \(value.kind)")
        }
        return fields
    }
}
