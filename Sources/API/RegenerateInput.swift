import HTTP
import JSON
import Store

/// What a `POST /conversation/{id}/regenerate` asks: `stream`, `model`, `temperature` and
/// `max_tokens`, read and checked as `/ask` reads them, all optional, as JSON or a form. The
/// prompt is the conversation's last one, read under its turn lock.
enum RegenerateInput {
    static let names: Set<String> = ["stream", "model", "temperature", "max_tokens"]

    /// The turn's input, with an empty prompt until the pipeline reads the stored one.
    /// - Throws: `HTTPError` 400 naming the field, or 415 for a body type askd does not read.
    static func parse(_ request: Request, conversationID: String, limits: AskSettings) throws -> AskInput {
        let body = try BodyFields(of: request)
        let fields = body.encoding == .form ? try AskInput.typed(form: body.fields) : body.fields
        if let unknown = fields.keys.sorted().first(where: { !names.contains($0) }) {
            throw HTTPError.badRequest("unknown field \(unknown); regenerate takes stream, model, temperature and max_tokens")
        }
        var input = AskInput(prompt: "", conversationID: conversationID, stream: AskInput.acceptsEventStream(request.headers["Accept"]))
        input.kind = .regenerate
        switch fields["stream"] {
        case nil, .null: break
        case .bool(let flag): input.stream = flag
        case let other?: throw HTTPError.badRequest("stream must be a boolean, not \(other.kind)")
        }
        let model = fields["model"].map { ["model": $0] } ?? [:]
        input.settings = try ConversationFields.settings(from: model, limits: limits).applied(to: ConversationSettings())
        input.temperature = try AskInput.number("temperature", in: fields, within: 0...2)
        if let maxTokens = try AskInput.number("max_tokens", in: fields, within: 1...Double(limits.maxTokens)) {
            guard maxTokens.rounded() == maxTokens else { throw HTTPError.badRequest("max_tokens must be a whole number") }
            input.maxTokens = Int(maxTokens)
        }
        return input
    }
}
