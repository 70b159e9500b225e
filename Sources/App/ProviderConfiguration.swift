/// Which model askd asks (`ASKD_PROVIDER`), and how to reach it.
public enum ProviderConfiguration: Sendable, Equatable {
    /// Answers offline; for development and tests only, and only when chosen explicitly.
    case echo
    /// An OpenAI-compatible Chat Completions endpoint.
    case openAI(baseURL: String, apiKey: String?, model: String)

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
            self = .openAI(baseURL: baseURL ?? "https://api.openai.com/v1", apiKey: apiKey, model: env.string("ASKD_MODEL") ?? "gpt-4o-mini")
        case let other:
            throw ConfigurationError("ASKD_PROVIDER=\(other) is not a provider; expected openai or echo")
        }
    }
}
