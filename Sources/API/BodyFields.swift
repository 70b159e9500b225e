import HTTP
import JSON

/// The fields of a request body, a JSON object or a form, read the same way by every endpoint
/// that takes one (`/ask`, PATCH).
package struct BodyFields {
    package enum Encoding {
        case json
        case form
    }

    /// A JSON body's members; a form's pairs as strings, the first of each name.
    package var fields: [String: JSONValue] = [:]
    /// How the body came; `json` for an empty one.
    package var encoding = Encoding.json

    /// How deep a JSON body may nest. The endpoints need depth 1; the parser recurses per level,
    /// and a worker's stack is small.
    package static let maxJSONDepth = 16

    /// Reads `request`'s body by its Content-Type: JSON (`application/json`, `text/json` or any
    /// `+json` type, such as `application/merge-patch+json`) or a form. Without a Content-Type,
    /// a body that starts with `{` is JSON and any other a form, as the original clients sent it.
    /// - Throws: 415 for another Content-Type, or a Content-Encoding (askd reads bodies as they
    ///   are sent); 400 for invalid UTF-8, malformed JSON (with the
    ///   byte where it goes wrong), too deep a nesting, a JSON value that is not an object, or a
    ///   form field that does not decode.
    package init(of request: Request) throws {
        guard !request.body.isEmpty else { return }
        if let coding = request.headers["Content-Encoding"], MediaType.of(contentType: coding) != "identity" {
            throw HTTPError(.unsupportedMediaType, "unsupported Content-Encoding \(coding); send the body unencoded")
        }
        let mediaType = MediaType.of(contentType: request.headers["Content-Type"])
        if mediaType == "application/json" || mediaType == "text/json" || mediaType.hasSuffix("+json") {
            encoding = .json
        } else if mediaType == "application/x-www-form-urlencoded" {
            encoding = .form
        } else if mediaType.isEmpty {
            let first = request.body.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            encoding = first == UInt8(ascii: "{") ? .json : .form
        } else {
            throw HTTPError(
                .unsupportedMediaType, "unsupported Content-Type \(mediaType); send application/json or application/x-www-form-urlencoded"
            )
        }
        guard String(validating: request.body, as: UTF8.self) != nil else { throw HTTPError.badRequest("the body is not valid UTF-8") }
        fields = try encoding == .json ? Self.object(request.body) : Self.form(request.body)
    }

    private static func object(_ body: [UInt8]) throws -> [String: JSONValue] {
        let value: JSONValue
        do {
            value = try JSONParser.parse(body, maxDepth: maxJSONDepth)
        } catch .tooDeep {
            throw HTTPError.badRequest("the body nests deeper than \(maxJSONDepth) levels")
        } catch .invalid(let offset) {
            throw HTTPError.badRequest("the body is not valid JSON (at byte \(offset))")
        }
        guard case .object(let fields) = value else {
            throw HTTPError.badRequest("the body must be a JSON object, not \(value.kind)")
        }
        return fields
    }

    private static func form(_ body: [UInt8]) throws -> [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        do {
            for (name, value) in try FormEncoding.pairs(String(decoding: body, as: UTF8.self)) where fields[name] == nil {
                fields[name] = .string(value)
            }
        } catch {
            throw HTTPError(error)
        }
        return fields
    }
}
