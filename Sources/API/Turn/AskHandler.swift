import Auth
import HTTP
import Logging
import Store
import Upstream

/// `POST /ask`: one turn of a conversation, run by the `TurnPipeline`.
///
/// The first stages run here, on the worker that read the request, and their errors are plain
/// responses: the caller's token is checked (authorize), the input read and held to askd's
/// limits, and a conversation it names must be the caller's (admit). The rest of the turn answers later, through a `ResponseChannel`, and
/// holds no thread while it waits.
public struct AskHandler: Sendable {
    let verifier: any TokenVerifier
    let pipeline: TurnPipeline

    public init(
        store: any ConversationStore, verifier: any TokenVerifier, upstream: any ChatCompletions, settings: AskSettings,
        logger: Logger
    ) {
        self.verifier = verifier
        pipeline = TurnPipeline(store: store, upstream: upstream, settings: settings, logger: logger)
    }

    public func handle(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        let input = try pipeline.admit(request, owner: token.id)
        let pipeline = pipeline
        return Response(body: .later { channel in pipeline.run(input, owner: token.id, channel: channel) })
    }
}
