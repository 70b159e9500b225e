import Upstream

/// Makes the `ChatCompletions` that `ASKD_PROVIDER` selects.
public enum UpstreamFactory {
    public static func make(_ provider: ProviderConfiguration) -> any ChatCompletions {
        switch provider {
        case .echo:
            EchoProvider()
        case .openAI(let baseURL, let apiKey, let model, let timeoutSeconds):
            OpenAIClient(baseURL: baseURL, apiKey: apiKey, model: model, timeoutSeconds: timeoutSeconds)
        }
    }
}
