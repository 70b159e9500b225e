import API
import Auth
import HTTP
import Logging
import Store
import Upstream

/// The endpoints askd serves.
public enum Routes {
    public static func make(
        configuration: ServeConfiguration, store: any ConversationStore, upstream: any ChatCompletions, logger: Logger = Logger(label: "askd")
    ) -> Router {
        let verifier = StoreTokenVerifier(store: store)
        var router = Router()
        router.get("/healthz", use: HealthHandler(store: store).handle)
        router.post("/ask", use: AskHandler(store: store, verifier: verifier, upstream: upstream, settings: configuration.ask, logger: logger).handle)
        router.delete("/conversation/{conversation_id}", use: DeleteConversationHandler(store: store, verifier: verifier).handle)
        var limits = configuration.ask
        limits.models = limits.models ?? [upstream.defaultModel]
        let conversations = ConversationsHandler(store: store, verifier: verifier, limits: limits)
        router.get("/conversations", use: conversations.list)
        router.delete("/conversations", use: conversations.deleteAll)
        router.get("/conversation/{conversation_id}", use: conversations.read)
        router.patch("/conversation/{conversation_id}", use: conversations.update)
        router.get("/usage", use: UsageHandler(store: store, verifier: verifier, defaultLimits: configuration.ask.defaultLimits).handle)
        #if DEBUG
        if configuration.testRoutes { TestRoutes.register(on: &router) }
        #endif
        return router
    }
}
