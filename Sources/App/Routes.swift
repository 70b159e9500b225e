import API
import HTTP

/// The endpoints askd serves.
public enum Routes {
    public static func make(configuration: ServeConfiguration) -> Router {
        var router = Router()
        router.get("/healthz", use: HealthHandler().handle)
        #if DEBUG
        if configuration.testRoutes { TestRoutes.register(on: &router) }
        #endif
        return router
    }
}
