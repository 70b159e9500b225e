import Telemetry

/// The samples of an exposition, by their full line up to the value: `name{labels}` -> value.
struct Exposition {
    let text: String

    init(_ hub: MetricsHub) {
        text = String(decoding: hub.exposition(), as: UTF8.self)
    }

    var samples: [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    /// The value of the sample `name{labels}`, written exactly as in the exposition.
    subscript(_ series: String) -> Double? { samples[series] }

    /// The metric families that have a `# TYPE` line, and those that have a `# HELP` line.
    var typed: Set<String> { names(after: "# TYPE ") }
    var helped: Set<String> { names(after: "# HELP ") }

    private func names(after prefix: String) -> Set<String> {
        Set(text.split(separator: "\n").filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count).prefix { $0 != " " }) })
    }
}
