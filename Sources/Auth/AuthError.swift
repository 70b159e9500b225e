/// Why a token could not be made or checked.
public enum AuthError: Error, Sendable, Equatable {
    /// The OS random generator failed; no token was made.
    case randomnessUnavailable
}
