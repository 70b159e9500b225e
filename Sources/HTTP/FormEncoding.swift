/// `application/x-www-form-urlencoded` pairs, as in a query string or a form body.
public enum FormEncoding {
    /// A pair whose name or value is not percent-encoded UTF-8.
    public struct Undecodable: Error, Equatable {
        /// The pair's name, or nil when the name itself does not decode.
        public var field: String?
    }

    /// The decoded `name=value` pairs of `text`, in order.
    /// - Throws: `Undecodable` for the first pair that does not decode: a field the client sent
    ///   is never dropped silently (a dropped `conversation_id` would start a new conversation
    ///   instead of continuing one).
    public static func pairs(_ text: some StringProtocol) throws(Undecodable) -> [(name: String, value: String)] {
        var pairs: [(name: String, value: String)] = []
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            pairs.append(try decode(pair))
        }
        return pairs
    }

    /// The value of the first pair named `name`, or nil when there is none. Only that pair must
    /// decode.
    public static func value(of name: String, in text: some StringProtocol) throws(Undecodable) -> String? {
        for pair in text.split(separator: "&", omittingEmptySubsequences: true)
        where PercentDecoding.decode(pair.prefix { $0 != "=" }, plusIsSpace: true) == name {
            return try decode(pair).value
        }
        return nil
    }

    private static func decode(_ pair: some StringProtocol) throws(Undecodable) -> (name: String, value: String) {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard let name = PercentDecoding.decode(parts[0], plusIsSpace: true) else { throw Undecodable(field: nil) }
        guard let value = PercentDecoding.decode(parts.count > 1 ? parts[1] : "", plusIsSpace: true) else {
            throw Undecodable(field: name)
        }
        return (name, value)
    }
}

extension HTTPError {
    /// 400 naming the field that does not decode (its first 64 code points).
    public init(_ undecodable: FormEncoding.Undecodable) {
        guard let field = undecodable.field else {
            self = .badRequest("a field name is not percent-encoded UTF-8")
            return
        }
        let shown = field.unicodeScalars.count <= 64 ? field : String(String.UnicodeScalarView(field.unicodeScalars.prefix(61))) + "..."
        self = .badRequest("\(shown) is not percent-encoded UTF-8")
    }
}

extension Request {
    /// The first value of query parameter `name`, decoded.
    /// - Throws: 400 when it is there but does not decode: that is not an absence.
    public func queryParameter(_ name: String) throws(HTTPError) -> String? {
        do {
            return try FormEncoding.value(of: name, in: query)
        } catch {
            throw HTTPError(error)
        }
    }
}
