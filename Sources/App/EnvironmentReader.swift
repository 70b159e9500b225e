import HTTP
import Text

/// Reads typed values from the environment; a bad value is an error that names its variable.
struct EnvironmentReader {
    private let environment: [String: String]

    init(_ environment: [String: String]) {
        self.environment = environment
    }

    /// The variable's value, or `nil` when it is unset or empty.
    func string(_ name: String) -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// The variable parsed by `parse`, `nil` when unset or empty.
    /// - Throws: `ConfigurationError` naming the variable when `parse` rejects the value.
    func value<T>(_ name: String, expecting expected: String? = nil, _ parse: (String) -> T?) throws -> T? {
        guard let text = string(name) else { return nil }
        guard let value = parse(text.trimmingWhitespace()) else {
            let hint = expected.map { "; expected \($0)" } ?? ""
            throw ConfigurationError("\(name)=\(text) is not a valid value\(hint)")
        }
        return value
    }
}
