import Upstream

/// Makes the `ChatCompletions` that `ASKD_PROVIDER` selects.
public enum UpstreamFactory {
    public static func make(_ provider: ProviderConfiguration) throws -> any ChatCompletions {
        switch provider {
        case .echo:
            return EchoProvider()
        case .openAI:
            throw ConfigurationError(
                "ASKD_PROVIDER=openai: this build of askd has no OpenAI-compatible client yet; set ASKD_PROVIDER=echo for development"
            )
        }
    }
}
