import Text

/// Parses token lifetimes such as `90s`, `15m`, `12h`, `30d` or `2w`.
public enum TokenLifetime {
    /// The lifetime in seconds.
    /// - Throws: `ConfigurationError` naming `--expires-in`.
    public static func seconds(_ text: String) throws -> Double {
        guard let seconds = Lifetime.seconds(text) else {
            throw ConfigurationError("--expires-in \(text): expected a positive number and a unit (s, m, h, d or w), such as 30d")
        }
        return seconds
    }
}
