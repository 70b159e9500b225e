/// Every fuzz target, named as its folder in `fuzz/corpus/` and its binary in `make fuzz`.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case json
    case form
    case cursor
    case fastcgi
    case sse
    case rfc3339
    case router

    /// Runs the target's check on one input; it traps if an invariant does not hold.
    public func check(_ bytes: [UInt8]) {
        switch self {
        case .json: JSONFuzz.check(bytes)
        case .form: FormFuzz.check(bytes)
        case .cursor: CursorFuzz.check(bytes)
        case .fastcgi: FastCGIFuzz.check(bytes)
        case .sse: ServerSentEventFuzz.check(bytes)
        case .rfc3339: RFC3339Fuzz.check(bytes)
        case .router: RouterFuzz.check(bytes)
        }
    }
}
