/// A route's path split into literal and `{parameter}` segments.
struct RoutePattern: Sendable, Equatable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    let segments: [Segment]
    /// The pattern as registered, such as `/conversation/{id}`.
    let path: String
    /// Whether the pattern has no `{parameter}` segment.
    let isLiteral: Bool

    init(_ pattern: String) {
        path = pattern
        segments = RoutePattern.segments(of: pattern).map { segment in
            if segment.hasPrefix("{") && segment.hasSuffix("}") && segment.count > 2 {
                return .parameter(String(segment.dropFirst().dropLast()))
            }
            return .literal(String(segment))
        }
        isLiteral = segments.allSatisfy { if case .literal = $0 { true } else { false } }
    }

    /// The segments of `path` after its leading slash; empty ones are kept, so `/a/` has two.
    static func segments(of path: String) -> [Substring] {
        var rest = Substring(path)
        if rest.first == "/" { rest = rest.dropFirst() }
        return rest.split(separator: "/", omittingEmptySubsequences: false)
    }

    /// The decoded parameters if `path` matches, otherwise `nil`.
    func match(_ path: [Substring]) -> [String: String]? {
        guard path.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, component) in zip(segments, path) {
            switch segment {
            case .literal(let literal):
                guard component == literal else { return nil }
            case .parameter(let name):
                guard !component.isEmpty, let value = PercentDecoding.decode(component) else { return nil }
                parameters[name] = value
            }
        }
        return parameters
    }
}
