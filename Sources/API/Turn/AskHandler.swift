import Auth
import HTTP
import Logging
import Store
import Upstream

/// `POST /ask`: one turn of a conversation, run by the `TurnPipeline`.
///
/// The first stages run here, on the worker that read the request, and their errors are plain
/// responses: the caller's token is checked (authorize), the input read and held to askd's
/// limits, a conversation it names must be the caller's, and the token must have room in its
/// limits (admit). The rest of the turn answers later, through a `ResponseChannel`, and
/// holds no thread while it waits.
public struct AskHandler: Sendable {
    let verifier: any TokenVerifier
    let pipeline: TurnPipeline

    public init(
        store: any ConversationStore, verifier: any TokenVerifier, upstream: any ChatCompletions, settings: AskSettings,
        logger: Logger, allowances: AllowanceBroker? = nil
    ) {
        self.verifier = verifier
        pipeline = TurnPipeline(store: store, upstream: upstream, settings: settings, logger: logger, allowances: allowances)
    }

    public func handle(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        let input: AskInput
        let admitted: AdmittedRequest
        do {
            (input, admitted) = try pipeline.admit(request, token: token)
        } catch {
            throw pipeline.admission.withHeaders(error, of: token)
        }
        let pipeline = pipeline
        return Response(body: .later { channel in
            pipeline.run(input, token: token, admitted: admitted, channel: admitted.channel(channel))
        })
    }
}
