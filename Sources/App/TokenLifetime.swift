/// Parses token lifetimes such as `90s`, `15m`, `12h`, `30d` or `2w`.
public enum TokenLifetime {
    /// The lifetime in seconds.
    /// - Throws: `ConfigurationError` naming `--expires-in`.
    public static func seconds(_ text: String) throws -> Double {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        guard let unit = text.last, let multiplier = units[unit], let count = Int(text.dropLast()), count > 0,
            count <= 100_000
        else {
            throw ConfigurationError("--expires-in \(text): expected a positive number and a unit (s, m, h, d or w), such as 30d")
        }
        return Double(count) * multiplier
    }
}
