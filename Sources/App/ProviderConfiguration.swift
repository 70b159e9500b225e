/// Which model askd asks (`ASKD_PROVIDER`), and how to reach it.
public enum ProviderConfiguration: Sendable, Equatable {
    /// Answers offline; for development and tests only, and only when chosen explicitly.
    case echo
    /// An OpenAI-compatible Chat Completions endpoint.
    case openAI(baseURL: String, apiKey: String?, model: String, timeoutSeconds: Int)

    public init(environment: [String: String]) throws {
        let env = EnvironmentReader(environment)
        switch env.string("ASKD_PROVIDER")?.lowercased() ?? "openai" {
        case "echo":
            self = .echo
        case "openai":
            let baseURL = env.string("OPENAI_BASE_URL")
            let apiKey = env.string("OPENAI_API_KEY")
            guard baseURL != nil || apiKey != nil else {
                throw ConfigurationError(
                    "the openai provider needs OPENAI_API_KEY (and OPENAI_BASE_URL for a server other than OpenAI's); "
                        + "for offline development set ASKD_PROVIDER=echo"
                )
            }
            let base = baseURL ?? "https://api.openai.com/v1"
            let lowered = base.lowercased()
            guard lowered.hasPrefix("https://") || lowered.hasPrefix("http://") else {
                throw ConfigurationError("OPENAI_BASE_URL=\(base) must start with https:// or http://")
            }
            let timeout = try env.value("ASKD_UPSTREAM_TIMEOUT_SECONDS", expecting: "1 to 3600") { Int($0).flatMap { (1...3600).contains($0) ? $0 : nil } } ?? 120
            self = .openAI(baseURL: base, apiKey: apiKey, model: env.string("ASKD_MODEL") ?? "gpt-4o-mini", timeoutSeconds: timeout)
        case let other:
            throw ConfigurationError("ASKD_PROVIDER=\(other) is not a provider; expected openai or echo")
        }
    }
}

extension ProviderConfiguration {
    /// The provider as the metrics name it (`gen_ai_provider_name`).
    public var metricsName: String {
        switch self {
        case .echo: "askd.echo"
        case .openAI: "openai"
        }
    }
}
