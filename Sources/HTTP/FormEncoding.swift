/// `application/x-www-form-urlencoded` pairs, as in a query string or a form body.
public enum FormEncoding {
    /// The decoded `name=value` pairs of `text`, in order. Pairs that do not decode are skipped.
    public static func pairs(_ text: some StringProtocol) -> [(name: String, value: String)] {
        text.split(separator: "&", omittingEmptySubsequences: true).compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = PercentDecoding.decode(parts[0], plusIsSpace: true),
                let value = PercentDecoding.decode(parts.count > 1 ? parts[1] : "", plusIsSpace: true)
            else { return nil }
            return (name, value)
        }
    }
}

extension Request {
    /// The first value of query parameter `name`, decoded.
    public func queryParameter(_ name: String) -> String? {
        FormEncoding.pairs(query).first { $0.name == name }?.value
    }
}
