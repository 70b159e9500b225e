import HTTP

extension AskHandler {
    /// `POST /conversation/{conversation_id}/regenerate`: the model is asked the conversation's
    /// last prompt again, through the same pipeline as `/ask` (its limits, its turn lock, and
    /// its plain or streamed answer), and the new answer replaces the last one, which stays
    /// readable as a previous version. Nothing changes if the model fails.
    public func regenerate(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        guard let id = request.parameters["conversation_id"], ConversationID.isWellFormed(id) else {
            throw HTTPError.conversationNotFound
        }
        let input: AskInput
        let admitted: AdmittedRequest
        do {
            (input, admitted) = try pipeline.admit(regenerating: id, request, token: token)
        } catch {
            throw pipeline.admission.withHeaders(error, of: token)
        }
        let pipeline = pipeline
        return Response(body: .later { channel in
            pipeline.run(input, token: token, admitted: admitted, channel: admitted.channel(channel))
        })
    }
}
