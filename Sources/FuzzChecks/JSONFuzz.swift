import HTTP
import JSON

/// The JSON parser and writer. Input: any bytes, read as a request body.
///
/// Invariants: parsing never traps and fails only with `Failure`; what the writer writes from a
/// parsed value parses back equal, and writing that again gives the same bytes; both string
/// writers (`appendQuoted`, `quoted`) write the same literal; an error object is JSON that reads
/// back its message and fields; an object's raw members (`JSONMembers`) rebuild it to an equal value;
/// `JSONParser.validate` accepts exactly what `parse` reads, and fails as it does.
public enum JSONFuzz {
    /// As `BodyFields` reads a body.
    static let maxDepth = 16

    public static func check(_ bytes: [UInt8]) {
        let value: JSONValue
        let validated = Result { () throws(JSONParser.Failure) in try JSONParser.validate(bytes, maxDepth: maxDepth) }
        do {
            value = try JSONParser.parse(bytes, maxDepth: maxDepth)
        } catch {
            if case .invalid(let offset) = error {
                require((0...bytes.count).contains(offset), "failure offset \(offset) outside 0...\(bytes.count)")
            }
            if case .failure(let failure) = validated {
                require(failure == error, "validate failed with \(failure), parse with \(error)")
            } else {
                fatalError("validate accepted what parse refused (\(error))")
            }
            return
        }
        if case .failure(let failure) = validated { fatalError("validate refused (\(failure)) what parse read") }
        let written = value.serialized
        require(String(validating: written, as: UTF8.self) != nil, "the writer wrote invalid UTF-8")
        let reread: JSONValue
        do {
            reread = try JSONParser.parse(written, maxDepth: maxDepth)
        } catch {
            fatalError("the writer's output does not parse (\(error)): \(String(decoding: written, as: UTF8.self))")
        }
        require(reread == value, "read back differs: \(value) wrote \(String(decoding: written, as: UTF8.self))")
        require(reread.serialized == written, "writing twice differs")
        checkMembers(bytes, value)
        checkStrings(in: value)
        _ = value.integer
    }

    /// What `/v1/` passes on member by member reads as the parser read the whole.
    private static func checkMembers(_ bytes: [UInt8], _ value: JSONValue) {
        guard let members = JSONMembers(bytes) else {
            require(value.object == nil, "JSONMembers found no members in an object")
            return
        }
        require(value.object != nil, "JSONMembers read members from \(value.kind)")
        let rebuilt = try? JSONParser.parse(members.serialized, maxDepth: maxDepth)
        require(rebuilt == value, "the members rebuild to another value: \(String(decoding: members.serialized, as: UTF8.self))")
    }

    private static func checkStrings(in value: JSONValue) {
        switch value {
        case .string(let string):
            checkLiteral(string)
        case .array(let elements):
            elements.forEach(checkStrings)
        case .object(let fields):
            for (key, field) in fields {
                checkLiteral(key)
                checkStrings(in: field)
            }
            let message = fields.keys.min() ?? ""
            // An "error" field would be written twice, and the second would win.
            let strings = fields.compactMapValues(\.string).filter { $0.key != "error" }
            let error = Array(JSONString.errorObject(message, fields: strings).utf8)
            var expected = strings.mapValues(JSONValue.string)
            expected["error"] = .string(message)
            let parsed = try? JSONParser.parse(error, maxDepth: 1)
            require(parsed == .object(expected), "error object reads back differently: \(String(decoding: error, as: UTF8.self))")
        default:
            break
        }
    }

    private static func checkLiteral(_ string: String) {
        var appended: [UInt8] = []
        JSONString.appendQuoted(string, to: &appended)
        require(Array(JSONString.quoted(string).utf8) == appended, "quoted and appendQuoted differ for \(string.debugDescription)")
    }
}
