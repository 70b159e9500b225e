import FoundationEssentials
import HTTP
import JSON
import Store
import Text

/// What a `POST /ask` asks: from a JSON or form-encoded body, with `conversation_id` also
/// accepted in the query string (as the original implementation read it).
struct AskInput: Equatable {
    var prompt: String
    var conversationID: String?
    /// Whether the answer goes out as Server-Sent Events: `"stream": true` in the body (or the
    /// form field `stream=true`), or `Accept` listing `text/event-stream` (with a q above 0).
    var stream = false
    /// `model`, `system` and `title`: a new conversation keeps them; on a later turn, `model`
    /// and `system` apply to that turn only (PATCH changes what is kept).
    var settings = ConversationSettings()
    var temperature: Double?
    var maxTokens: Int?
    /// A new prompt, or the last one again (`RegenerateInput`).
    var kind = TurnKind.ask

    /// Reads and validates the request.
    /// - Throws: `HTTPError` 400 naming the field, or 415 for a body type askd does not read.
    static func parse(_ request: Request, maxPromptCharacters: Int, limits: AskSettings = AskSettings()) throws -> AskInput {
        let body = try BodyFields(of: request)
        var fields = body.encoding == .form ? try typed(form: body.fields) : body.fields
        if fields["conversation_id"] == nil, let fromQuery = try request.queryParameter("conversation_id") {
            fields["conversation_id"] = .string(fromQuery)
        }

        guard let promptValue = fields["prompt"], promptValue != .null else {
            throw HTTPError.badRequest("prompt is required")
        }
        guard case .string(let prompt) = promptValue else {
            throw HTTPError.badRequest("prompt must be a string, not \(promptValue.kind)")
        }
        guard !prompt.allSatisfy(\.isWhitespace) else { throw HTTPError.badRequest("prompt must not be empty") }
        guard prompt.unicodeScalars.count <= maxPromptCharacters else {
            throw HTTPError.badRequest("prompt is longer than \(maxPromptCharacters) characters")
        }

        var conversationID: String?
        switch fields["conversation_id"] {
        case nil, .null: break
        case .string(let id) where id.isEmpty: break
        case .string(let id):
            guard ConversationID.isWellFormed(id) else {
                throw HTTPError.badRequest("conversation_id is malformed: expected the id askd returned")
            }
            conversationID = id
        case let other?:
            throw HTTPError.badRequest("conversation_id must be a string, not \(other.kind)")
        }
        var stream = Self.acceptsEventStream(request.headers["Accept"])
        switch fields["stream"] {
        case nil, .null: break
        case .bool(let flag): stream = flag
        case let other?:
            throw HTTPError.badRequest("stream must be a boolean, not \(other.kind)")
        }
        var input = AskInput(prompt: prompt, conversationID: conversationID, stream: stream)
        input.settings = try ConversationFields.settings(from: fields, limits: limits).applied(to: ConversationSettings())
        input.temperature = try number("temperature", in: fields, within: 0...2)
        if let maxTokens = try number("max_tokens", in: fields, within: 1...Double(limits.maxTokens)) {
            guard maxTokens.rounded() == maxTokens else { throw HTTPError.badRequest("max_tokens must be a whole number") }
            input.maxTokens = Int(maxTokens)
        }
        return input
    }

    /// Whether an `Accept` value lists `text/event-stream` with a quality above 0.
    static func acceptsEventStream(_ accept: String?) -> Bool {
        guard let accept else { return false }
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";")
            guard let type = parts.first, type.trimmingWhitespace().lowercased() == "text/event-stream" else { continue }
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                if pair.count == 2, pair[0].trimmingWhitespace().lowercased() == "q" {
                    return (Double(pair[1].trimmingWhitespace()) ?? 0) > 0
                }
            }
            return true
        }
        return false
    }

    /// A number field within `range`.
    static func number(_ name: String, in fields: [String: JSONValue], within range: ClosedRange<Double>) throws -> Double? {
        let value: Double
        switch fields[name] {
        case nil, .null: return nil
        case .number(let number): value = number
        case let other?: throw HTTPError.badRequest("\(name) must be a number, not \(other.kind)")
        }
        guard range.contains(value) else {
            throw HTTPError.badRequest("\(name) must be from \(Self.plain(range.lowerBound)) to \(Self.plain(range.upperBound))")
        }
        return value
    }

    private static func plain(_ number: Double) -> String {
        number.rounded() == number ? String(Int(number)) : "\(number)"
    }

    /// A form's fields as JSON would carry them: a form sends everything as text, so `stream`
    /// is read as a boolean and `temperature` and `max_tokens` as numbers here (a JSON body
    /// must send those types itself).
    static func typed(form fields: [String: JSONValue]) throws -> [String: JSONValue] {
        var typed = fields
        if case .string(let text)? = fields["stream"] {
            switch text.lowercased() {
            case "true", "1": typed["stream"] = .bool(true)
            case "false", "0", "": typed["stream"] = .bool(false)
            default: throw HTTPError.badRequest("stream must be true or false")
            }
        }
        for name in ["temperature", "max_tokens"] {
            guard case .string(let text)? = fields[name] else { continue }
            guard Self.isDecimal(text), let number = Double(text), number.isFinite else {
                throw HTTPError.badRequest("\(name) must be a number")
            }
            typed[name] = .number(number)
        }
        return typed
    }

    /// Whether `text` is a decimal number as a person types one: an optional sign, digits with at
    /// most one point (`.5` and `01` included), and an optional exponent. `Double` alone would
    /// also read `0x10`, `nan` and `inf`.
    static func isDecimal(_ text: String) -> Bool {
        var bytes = text.utf8[...]
        func digits() -> Int {
            let count = bytes.prefix { (0x30...0x39).contains($0) }.count
            bytes = bytes.dropFirst(count)
            return count
        }
        if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        var mantissa = digits()
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            mantissa += digits()
        }
        guard mantissa > 0 else { return false }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
            guard digits() > 0 else { return false }
        }
        return bytes.isEmpty
    }
}
