/// `application/x-www-form-urlencoded` pairs, as in a query string or a form body.
public enum FormEncoding {
    /// The decoded `name=value` pairs of `text`, in order.
    /// - Throws: 400 naming the first pair whose name or value is not percent-encoded UTF-8: a
    ///   field the client sent is never dropped silently (a dropped `conversation_id` would
    ///   start a new conversation instead of continuing one).
    public static func pairs(_ text: some StringProtocol) throws(HTTPError) -> [(name: String, value: String)] {
        var pairs: [(name: String, value: String)] = []
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            pairs.append(try decode(pair))
        }
        return pairs
    }

    /// The value of the first pair named `name`, or nil when there is none.
    /// - Throws: 400 when that pair is there but does not decode. Other pairs are not judged.
    public static func value(of name: String, in text: some StringProtocol) throws(HTTPError) -> String? {
        for pair in text.split(separator: "&", omittingEmptySubsequences: true)
        where PercentDecoding.decode(pair.prefix { $0 != "=" }, plusIsSpace: true) == name {
            return try decode(pair).value
        }
        return nil
    }

    private static func decode(_ pair: some StringProtocol) throws(HTTPError) -> (name: String, value: String) {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard let name = PercentDecoding.decode(parts[0], plusIsSpace: true) else {
            throw .badRequest("a field name is not percent-encoded UTF-8")
        }
        guard let value = PercentDecoding.decode(parts.count > 1 ? parts[1] : "", plusIsSpace: true) else {
            let shown = name.count <= 64 ? name : name.prefix(61) + "..."
            throw .badRequest("\(shown) is not percent-encoded UTF-8")
        }
        return (name, value)
    }
}

extension Request {
    /// The first value of query parameter `name`, decoded.
    /// - Throws: 400 when it is there but does not decode: that is not an absence.
    public func queryParameter(_ name: String) throws(HTTPError) -> String? {
        try FormEncoding.value(of: name, in: query)
    }
}
