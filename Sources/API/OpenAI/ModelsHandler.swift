import Auth
import FoundationEssentials
import HTTP
import JSON
import Store
import Upstream

/// `GET /v1/models` and `GET /v1/models/{model}`: the models the caller's token may use, as
/// OpenAI lists them. A model outside them is a 404 `model_not_found`, whether askd serves it
/// to others or not at all.
public struct ModelsHandler: Sendable {
    let verifier: any TokenVerifier
    let chat: ChatCompletionsHandler
    /// `created` of every model: when this process started (askd does not know when the
    /// upstream made its models).
    let created = Int(Date().timeIntervalSince1970)

    public init(verifier: any TokenVerifier, chat: ChatCompletionsHandler) {
        self.verifier = verifier
        self.chat = chat
    }

    public func list(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        let models = chat.servedModels(for: token).map(object(of:))
        return .json(.ok, JSONValue.object(["object": .string("list"), "data": .array(models)]).serialized)
    }

    /// One model; a name with a slash (`org/model`) may come percent-encoded or as two segments.
    public func retrieve(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        let name = request.parameters["model"] ?? [request.parameters["owner"], request.parameters["name"]].compactMap { $0 }.joined(separator: "/")
        guard chat.servedModels(for: token).contains(name) else { throw HTTPError.modelNotFound(name) }
        return .json(.ok, object(of: name).serialized)
    }

    private func object(of model: String) -> JSONValue {
        .object(["id": .string(model), "object": .string("model"), "created": .integer(created), "owned_by": .string("askd")])
    }
}
