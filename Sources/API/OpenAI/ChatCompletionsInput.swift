import HTTP
import JSON
import Upstream

/// What a `POST /v1/chat/completions` asks: OpenAI's request, read only as far as askd must
/// (the model, the messages, whether to stream, the usage option and the token limits). Every
/// other member goes to the upstream byte for byte.
struct ChatCompletionsInput: Sendable {
    /// The body as the client sent it.
    let body: [UInt8]
    let members: JSONMembers
    let fields: [String: JSONValue]
    let model: String
    let stream: Bool
    /// Whether the client asked for a stream's usage chunk (`stream_options.include_usage`).
    let includeUsage: Bool
    /// The longest answer the client asked for, by `max_completion_tokens` or `max_tokens`.
    let maxTokens: Int?

    /// The names of the members that bound the answer's length, the current one first.
    static let tokenLimitNames = ["max_completion_tokens", "max_tokens"]

    /// Reads and checks the body.
    /// - Throws: `HTTPError` 400 naming the member in `param`.
    static func parse(_ request: Request) throws -> ChatCompletionsInput {
        guard String(validating: request.body, as: UTF8.self) != nil, let value = try? JSONParser.parse(request.body, maxDepth: 128) else {
            throw invalid("the request body is not valid JSON; send a JSON object with model and messages")
        }
        guard let fields = value.object, let members = JSONMembers(request.body) else {
            throw invalid("the request body must be a JSON object, not \(value.kind)")
        }
        guard case .string(let model)? = fields["model"], !model.isEmpty else {
            throw invalid("model is required: a model's name, as GET /v1/models lists them", param: "model")
        }
        guard case .array(let messages)? = fields["messages"], !messages.isEmpty else {
            throw invalid("messages is required: an array of at least one message", param: "messages")
        }
        guard messages.allSatisfy({ $0.object != nil }) else { throw invalid("each message must be an object", param: "messages") }
        let stream = try flag("stream", in: fields) ?? false
        var includeUsage = false
        switch fields["stream_options"] {
        case nil, .null?: break
        case .object(let options)?: includeUsage = try flag("include_usage", in: options, param: "stream_options.include_usage") ?? false
        case let other?: throw invalid("stream_options must be an object or null, not \(other.kind)", param: "stream_options")
        }
        var maxTokens: Int?
        for name in tokenLimitNames.reversed() {
            switch fields[name] {
            case nil, .null?: continue
            case let value?:
                guard let count = value.integer, count >= 1 else { throw invalid("\(name) must be a whole number of at least 1", param: name) }
                maxTokens = count
            }
        }
        return ChatCompletionsInput(
            body: request.body, members: members, fields: fields, model: model, stream: stream, includeUsage: stream && includeUsage, maxTokens: maxTokens
        )
    }

    /// The request for the upstream: the client's body, but for a stream with the usage always
    /// asked for (askd counts it), and with the answer's length capped at `cap` tokens when
    /// there is one (a quota's remainder): the client's limits lowered to it, or, when it set
    /// none, `max_completion_tokens` set to it.
    func forwarded(cappingTokensAt cap: Int?) -> ForwardedRequest {
        guard stream || cap != nil else { return ForwardedRequest(body: body, fields: fields) }
        var members = members
        var fields = fields
        func set(_ name: String, _ value: JSONValue) {
            members.set(name, raw: value.serialized)
            fields[name] = value
        }
        if stream {
            var options = fields["stream_options"]?.object ?? [:]
            options["include_usage"] = .bool(true)
            set("stream_options", .object(options))
        }
        if let cap {
            let present = Self.tokenLimitNames.filter { fields[$0]?.integer != nil }
            for name in present { set(name, .integer(min(fields[name]!.integer!, cap))) }
            if present.isEmpty { set("max_completion_tokens", .integer(cap)) }
        }
        return ForwardedRequest(body: members.serialized, fields: fields)
    }

    private static func flag(_ name: String, in fields: [String: JSONValue], param: String? = nil) throws -> Bool? {
        switch fields[name] {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        case let other?: throw invalid("\(param ?? name) must be a boolean, not \(other.kind)", param: param ?? name)
        }
    }

    static func invalid(_ message: String, param: String? = nil) -> HTTPError {
        HTTPError(.badRequest, message, fields: param.map { ["param": $0] } ?? [:])
    }
}
