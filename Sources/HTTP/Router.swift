/// Matches a method and a path to a handler, with `{name}` path parameters.
///
/// Build it once at start-up; it is then shared read-only by every worker.
public struct Router: Sendable {
    public typealias Handler = @Sendable (Request) throws -> Response

    /// What a method and path resolve to.
    public enum Resolution {
        case matched(Handler, parameters: [String: String])
        /// The path exists, but not for this method; `allow` lists the methods it has.
        case methodNotAllowed(allow: [String])
        case notFound
    }

    private var routes: [Route] = []
    /// The error formats of path prefixes, longest prefix first.
    private var errorFormats: [(prefix: String, format: any ErrorFormat)] = []
    /// Routes without parameters, by path: most requests resolve with one lookup.
    private var literalRoutes: [String: Int] = [:]

    public init() {}

    /// Registers `handler` for `method` on `pattern`, such as `/conversation/{id}`.
    public mutating func on(_ method: String, _ pattern: String, use handler: @escaping Handler) {
        let pattern = RoutePattern(pattern)
        if let index = routes.firstIndex(where: { $0.pattern == pattern }) {
            routes[index].handlers[method.uppercased()] = handler
        } else {
            routes.append(Route(pattern: pattern, handlers: [method.uppercased(): handler]))
            if pattern.isLiteral { literalRoutes[pattern.path] = routes.count - 1 }
        }
    }

    /// Writes the errors of every request under `prefix` (such as `/v1/`, which also covers
    /// `/v1`) in `format`, whether a route matched or not.
    public mutating func formatErrors(under prefix: String, as format: any ErrorFormat) {
        errorFormats.append((prefix, format))
        errorFormats.sort { $0.prefix.count > $1.prefix.count }
    }

    /// The error format of `path`: the one registered for its longest prefix, or askd's own.
    public func errorFormat(for path: String) -> any ErrorFormat {
        for (prefix, format) in errorFormats {
            if path.hasPrefix(prefix) || (prefix.hasSuffix("/") && path == prefix.dropLast()) { return format }
        }
        return AskdErrorFormat()
    }

    public mutating func get(_ pattern: String, use handler: @escaping Handler) { on("GET", pattern, use: handler) }
    public mutating func post(_ pattern: String, use handler: @escaping Handler) { on("POST", pattern, use: handler) }
    public mutating func put(_ pattern: String, use handler: @escaping Handler) { on("PUT", pattern, use: handler) }
    public mutating func patch(_ pattern: String, use handler: @escaping Handler) { on("PATCH", pattern, use: handler) }
    public mutating func delete(_ pattern: String, use handler: @escaping Handler) { on("DELETE", pattern, use: handler) }

    /// Finds the handler for `method` on `path` (percent-encoded, without a query).
    /// `HEAD` falls back to the `GET` handler.
    public func resolve(method: String, path: String) -> Resolution {
        resolveWithRoute(method: method, path: path).resolution
    }

    /// `resolve`, with the pattern of the route that matched the path (even for a method it does
    /// not allow), or the empty string when none did.
    public func resolveWithRoute(method: String, path: String) -> (resolution: Resolution, route: String) {
        if let index = literalRoutes[path] {
            return (resolve(method: method, on: routes[index], parameters: [:]), routes[index].pattern.path)
        }
        let segments = RoutePattern.segments(of: path)
        for route in routes where !route.pattern.isLiteral {
            if let parameters = route.pattern.match(segments) {
                return (resolve(method: method, on: route, parameters: parameters), route.pattern.path)
            }
        }
        return (.notFound, "")
    }

    /// Every registered route pattern, in the order registered.
    public var routePatterns: [String] { routes.map(\.pattern.path) }

    private func resolve(method: String, on route: Route, parameters: [String: String]) -> Resolution {
        if let handler = route.handlers[method] ?? (method == "HEAD" ? route.handlers["GET"] : nil) {
            return .matched(handler, parameters: parameters)
        }
        return .methodNotAllowed(allow: route.allowedMethods)
    }
}

private struct Route: Sendable {
    let pattern: RoutePattern
    var handlers: [String: Router.Handler]

    var allowedMethods: [String] {
        var methods = Set(handlers.keys)
        if methods.contains("GET") { methods.insert("HEAD") }
        return methods.sorted()
    }
}
