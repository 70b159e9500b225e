/// What a token may spend: requests and model tokens per minute, model tokens per UTC day,
/// requests in flight at once, and the models it may use. Nil means no limit of that kind (or,
/// for a token's own limits, that askd's defaults apply, `ASKD_DEFAULT_*`).
public struct TokenLimits: Sendable, Equatable {
    /// Requests admitted in any 60 seconds (`--rpm`).
    public var requestsPerMinute: Int?
    /// Model tokens (prompt and completion, as the model reported them) in any 60 seconds (`--tpm`).
    public var tokensPerMinute: Int?
    /// Model tokens per UTC day (`--tokens-per-day`).
    public var tokensPerDay: Int?
    /// Requests in flight at once, plain or streamed (`--max-parallel`).
    public var maxParallel: Int?
    /// The only models the token may use (`--models`).
    public var models: [String]?

    public init(
        requestsPerMinute: Int? = nil, tokensPerMinute: Int? = nil, tokensPerDay: Int? = nil, maxParallel: Int? = nil,
        models: [String]? = nil
    ) {
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.tokensPerDay = tokensPerDay
        self.maxParallel = maxParallel
        self.models = models
    }

    /// These limits, with `defaults` filling each that is not set.
    public func filled(from defaults: TokenLimits) -> TokenLimits {
        TokenLimits(
            requestsPerMinute: requestsPerMinute ?? defaults.requestsPerMinute, tokensPerMinute: tokensPerMinute ?? defaults.tokensPerMinute,
            tokensPerDay: tokensPerDay ?? defaults.tokensPerDay, maxParallel: maxParallel ?? defaults.maxParallel,
            models: models ?? defaults.models
        )
    }

    /// Whether a request must be admitted through the store: some counted limit is set.
    public var isCounted: Bool {
        requestsPerMinute != nil || tokensPerMinute != nil || tokensPerDay != nil || maxParallel != nil
    }

    /// Whether the per-minute window is kept: rpm or tpm is set.
    public var isWindowed: Bool { requestsPerMinute != nil || tokensPerMinute != nil }

    /// The models as stored: names joined by commas, or nil.
    public var storedModels: String? { models?.joined(separator: ",") }

    /// Models as stored (`storedModels`) back into a list.
    public static func models(stored: String?) -> [String]? {
        stored.map { $0.split(separator: ",").map(String.init) }
    }
}
