/// One metric askd exports: its Prometheus name, its HELP text, and what kind it is.
///
/// Names follow the OpenTelemetry semantic conventions turned into Prometheus names (dots become
/// underscores, the unit `s` becomes `_seconds`, a counter ends in `_total`).
public struct Instrument: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case counter
        case gauge
        /// A histogram with these upper bounds (`+Inf` is implied).
        case histogram([Double])
    }

    public let name: String
    public let help: String
    public let kind: Kind
    /// The label names its series carry, in order.
    public let labels: [String]

    public init(_ name: String, _ kind: Kind, labels: [String] = [], help: String) {
        self.name = name
        self.kind = kind
        self.labels = labels
        self.help = help
    }
}
