import API
import Auth
import HTTP
import Logging
import Store
import Telemetry
import Upstream

/// The endpoints askd serves.
public enum Routes {
    /// With `metrics`, the store and the model are timed into it, and `/metrics` serves it.
    public static func make(
        configuration: ServeConfiguration, store: any ConversationStore, upstream: any ChatCompletions, logger: Logger = Logger(label: "askd"),
        metrics: MetricsHub? = nil
    ) -> Router {
        assemble(configuration: configuration, store: store, upstream: upstream, logger: logger, metrics: metrics).router
    }

    /// The routes, the ledger whose usage is written in batches, and the broker of the tokens'
    /// reservations: whoever serves the routes flushes and settles both when the server has stopped.
    public static func assemble(
        configuration: ServeConfiguration, store: any ConversationStore, upstream: any ChatCompletions, logger: Logger = Logger(label: "askd"),
        metrics: MetricsHub? = nil
    ) -> (router: Router, usage: UsageLedger, allowances: AllowanceBroker) {
        var store = store
        var upstream = upstream
        if let metrics {
            store = MeasuredStore(store, metrics: metrics.store)
            upstream = MeasuredChatCompletions(upstream, metrics: metrics.model)
        }
        let verifier = StoreTokenVerifier(store: store)
        let ledger = UsageLedger(store: store, logger: logger)
        let allowances = AllowanceBroker(store: store, logger: logger)
        var router = Router()
        let health = HealthHandler(store: store)
        router.get("/healthz", use: health.handle)
        if let metrics {
            metrics.setStoreCheck { health.storeIsUp() }
            router.get("/metrics", use: MetricsEndpoint(hub: metrics).handle)
        }
        let ask = AskHandler(store: store, verifier: verifier, upstream: upstream, settings: configuration.ask, logger: logger, allowances: allowances)
        router.post("/ask", use: ask.handle)
        router.post("/conversation/{conversation_id}/regenerate", use: ask.regenerate)
        router.delete("/conversation/{conversation_id}", use: DeleteConversationHandler(store: store, verifier: verifier).handle)
        let conversations = ConversationsHandler(store: store, verifier: verifier, limits: configuration.ask.resolvingModels(for: upstream))
        router.get("/conversations", use: conversations.list)
        router.delete("/conversations", use: conversations.deleteAll)
        router.get("/conversation/{conversation_id}", use: conversations.read)
        router.patch("/conversation/{conversation_id}", use: conversations.update)
        router.get("/search", use: SearchHandler(store: store, verifier: verifier).handle)
        router.post("/conversation/{conversation_id}/fork", use: conversations.fork)
        let exports = ExportHandler(store: store, verifier: verifier)
        router.get("/conversation/{conversation_id}/export", use: exports.one)
        router.get("/conversations/export", use: exports.all)
        router.post("/conversations/import", use: ImportHandler(store: store, verifier: verifier).handle)
        let shares = ShareHandler(store: store, verifier: verifier, links: configuration.shareLinks)
        router.post("/conversation/{conversation_id}/share", use: shares.create)
        router.get("/shares", use: shares.list)
        router.delete("/share/{share_id}", use: shares.delete)
        router.get("/s/{share_id}", use: PublicShareHandler(store: store).handle)
        router.get("/usage", use: UsageHandler(store: store, verifier: verifier, defaultLimits: configuration.ask.defaultLimits, ledger: ledger, allowances: allowances).handle)
        // OpenAI's dialect under /v1/: its endpoints, and its error shape for every path there.
        let chat = ChatCompletionsHandler(
            store: store, verifier: verifier, upstream: upstream, settings: configuration.ask, logger: logger, ledger: ledger,
            allowances: allowances
        )
        let models = ModelsHandler(verifier: verifier, chat: chat)
        router.post("/v1/chat/completions", use: chat.handle)
        router.get("/v1/models", use: models.list)
        router.get("/v1/models/{model}", use: models.retrieve)
        router.get("/v1/models/{owner}/{name}", use: models.retrieve)
        router.formatErrors(under: "/v1/", as: OpenAIErrorFormat())
        #if DEBUG
        if configuration.testRoutes { TestRoutes.register(on: &router) }
        #endif
        return (router, ledger, allowances)
    }
}

extension Routes {
    /// The routes of the per-process metrics socket (`ASKD_METRICS_SOCKET`): `/metrics`, and
    /// `/metrics/{process}`, as nginx passes a scrape of one process on.
    public static func metricsOnly(_ metrics: MetricsHub) -> Router {
        var router = Router()
        let endpoint = MetricsEndpoint(hub: metrics)
        router.get("/metrics", use: endpoint.handle)
        router.get("/metrics/{process}", use: endpoint.handle)
        return router
    }
}
