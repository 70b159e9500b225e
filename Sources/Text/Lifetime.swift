/// Lifetimes written as a count and a unit: `90s`, `15m`, `12h`, `30d` or `2w`.
public enum Lifetime {
    /// The lifetime in seconds; nil unless it is a count from 1 to 100,000 and one of the units.
    public static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        guard let unit = text.last, let multiplier = units[unit], let count = Int(text.dropLast()), count > 0, count <= 100_000
        else { return nil }
        return Double(count) * multiplier
    }
}
