import HTTP

/// Route matching. Input: four lines: a pattern and a method to register besides askd's own
/// routes, then a request's method and path.
///
/// Invariants: the router resolves as a plain reading of its contract does (a literal pattern
/// matches its exact path first; otherwise the first pattern, in registration order, whose
/// literal segments are equal and whose parameter segments are non-empty and percent-decode,
/// each parameter decoded; HEAD falls back to GET); a 405's Allow list is sorted, has HEAD
/// exactly when it has GET, and is the route's methods; a match's parameters, encoded again into
/// the pattern, match the same route with the same parameters.
public enum RouterFuzz {
    /// askd's routes (`App/Routes.swift`) and one with two parameters.
    static let fixed: [(method: String, pattern: String)] = [
        ("GET", "/healthz"), ("POST", "/ask"), ("DELETE", "/conversation/{conversation_id}"), ("GET", "/conversations"),
        ("DELETE", "/conversations"), ("GET", "/conversation/{conversation_id}"), ("PATCH", "/conversation/{conversation_id}"),
        ("GET", "/usage"), ("POST", "/a/{x}/b/{y}"),
    ]

    public static func check(_ bytes: [UInt8]) {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        let line = { (index: Int) in index < lines.count ? lines[index] : "" }
        let routes = [(line(1).uppercased(), line(0))] + fixed
        var router = Router()
        for (index, route) in routes.enumerated() {
            router.on(route.method, route.pattern) { _ in Response(status: HTTPStatus(code: 200 + index)) }
        }
        let method = line(2)
        let path = line(3)
        let resolution = router.resolve(method: method, path: path)
        let expected = reference(routes, method: method, path: path)
        switch (resolution, expected) {
        case (.notFound, nil):
            break
        case (.methodNotAllowed(let allow), let (pattern, nil, _)?):
            let methods = Set(routes.filter { $0.pattern == pattern }.map(\.method))
            require(allow == methods.union(methods.contains("GET") ? ["HEAD"] : []).sorted(), "\(method) \(path): allow \(allow) on \(pattern)")
        case (.matched(let handler, let parameters), let (pattern, index?, expectedParameters)?):
            let status = try? handler(Request(method: method, path: path)).status.code
            require(status == 200 + index, "\(method) \(path) ran route \(status.map { $0 - 200 } ?? -1), not \(index) (\(pattern))")
            require(parameters == expectedParameters, "\(method) \(path) on \(pattern): \(parameters), expected \(expectedParameters)")
            checkReencoded(parameters, pattern: pattern, routes: routes, method: method, router: router)
        default:
            fatalError("\(method.debugDescription) \(path.debugDescription) resolved as \(resolution), expected \(expected.debugDescription)")
        }
    }

    /// The pattern that `path` matches, the index of the route that `method` runs on it (nil: a
    /// 405), and the parameters.
    private static func reference(
        _ routes: [(method: String, pattern: String)], method: String, path: String
    ) -> (pattern: String, index: Int?, parameters: [String: String])? {
        var patterns: [String] = []
        for route in routes where !patterns.contains(route.pattern) { patterns.append(route.pattern) }
        let literal = patterns.first { $0 == path && !segments(of: $0).contains(where: isParameter) }
        let matched = literal.map { ($0, [String: String]()) }
            ?? patterns.lazy.filter { segments(of: $0).contains(where: isParameter) }
                .compactMap { pattern in match(pattern, path).map { (pattern, $0) } }.first
        guard let (pattern, parameters) = matched else { return nil }
        let index = routes.lastIndex { $0.pattern == pattern && $0.method == method }
            ?? (method == "HEAD" ? routes.lastIndex { $0.pattern == pattern && $0.method == "GET" } : nil)
        return (pattern, index, parameters)
    }

    private static func segments(of path: String) -> [String] {
        (path.hasPrefix("/") ? String(path.dropFirst()) : path).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    }

    private static func isParameter(_ segment: String) -> Bool {
        segment.hasPrefix("{") && segment.hasSuffix("}") && segment.count > 2
    }

    private static func match(_ pattern: String, _ path: String) -> [String: String]? {
        let wanted = segments(of: pattern)
        let given = segments(of: path)
        guard wanted.count == given.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, component) in zip(wanted, given) {
            if isParameter(segment) {
                guard !component.isEmpty, let value = PercentDecoding.decode(component) else { return nil }
                parameters[String(segment.dropFirst().dropLast())] = value
            } else if segment != component {
                return nil
            }
        }
        return parameters
    }

    private static func checkReencoded(
        _ parameters: [String: String], pattern: String, routes: [(method: String, pattern: String)], method: String, router: Router
    ) {
        guard !parameters.isEmpty else { return }
        // Each parameter's last segment is the one whose value the match keeps.
        let path = "/" + segments(of: pattern).map { segment in
            isParameter(segment) ? PercentEncoding.encode(parameters[String(segment.dropFirst().dropLast())]!) : segment
        }.joined(separator: "/")
        // An earlier pattern, or a literal one, may take the encoded path first; the reference says which.
        guard let expected = reference(routes, method: method, path: path), expected.pattern == pattern else { return }
        guard case .matched(_, let again) = router.resolve(method: method, path: path) else {
            fatalError("\(path), made from \(parameters) on \(pattern), does not match")
        }
        require(again == parameters, "\(path), made from \(parameters) on \(pattern), reads as \(again)")
    }
}
