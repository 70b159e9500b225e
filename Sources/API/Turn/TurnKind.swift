/// What a turn asks of the model, which decides its history and how it is stored.
enum TurnKind: Equatable {
    /// `POST /ask`: a new prompt, stored with its answer as the next two messages.
    case ask
    /// `POST /conversation/{id}/regenerate`: the last prompt again, whose new answer replaces the
    /// last one (`ConversationStore.replaceLastAnswer`).
    case regenerate
}
