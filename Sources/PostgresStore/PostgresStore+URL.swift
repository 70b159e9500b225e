extension PostgresStore {
    /// `url` with any password in it replaced by `***`, for messages and logs.
    public static func redacted(_ url: String) -> String {
        redaction(of: url).text
    }

    /// `url` without its passwords, and the passwords as they are written in it: after the user
    /// name (`postgresql://user:secret@host`), in a `password=` query parameter, or in a
    /// `password=` pair of a key-value connection string.
    static func redaction(of url: String) -> (text: String, secrets: [String]) {
        var secrets: [String] = []
        guard let scheme = url.firstRange(of: "://") else {
            return (redactingPairs(url, into: &secrets), secrets)
        }
        let rest = url[scheme.upperBound...]
        var text = String(url[..<scheme.upperBound])
        // As libpq reads it, the user name and password end at an `@` before the first `/`; a
        // password with an unencoded `/` (libpq then fails on it) ends at the last `@` before
        // the query. Of the two, the later `@` wins: hiding too much is harmless.
        let byLibpq = rest[..<(rest.firstIndex(of: "/") ?? rest.endIndex)].lastIndex(of: "@")
        let beforeQuery = rest[..<(rest.firstIndex(of: "?") ?? rest.endIndex)].lastIndex(of: "@")
        var afterCredentials = rest.startIndex
        if let at = [byLibpq, beforeQuery].compactMap({ $0 }).max() {
            if let colon = rest[..<at].firstIndex(of: ":") {
                let password = rest[rest.index(after: colon)..<at]
                if !password.isEmpty { secrets.append(String(password)) }
                text += rest[...colon] + "***"
            } else {
                text += rest[..<at]
            }
            afterCredentials = at
        }
        let queryStart = rest[afterCredentials...].firstIndex(of: "?") ?? url.endIndex
        text += rest[afterCredentials..<queryStart]
        if queryStart < url.endIndex {
            let parameters = url[url.index(after: queryStart)...].split(separator: "&", omittingEmptySubsequences: false)
            text += "?" + parameters.map { parameter in
                guard let equals = parameter.firstIndex(of: "="), parameter[..<equals].lowercased() == "password" else {
                    return String(parameter)
                }
                let password = parameter[parameter.index(after: equals)...]
                if !password.isEmpty { secrets.append(String(password)) }
                return parameter[...equals] + "***"
            }.joined(separator: "&")
        }
        return (text, secrets)
    }

    /// A `key=value ...` connection string with the value of `password` replaced.
    private static func redactingPairs(_ conninfo: String, into secrets: inout [String]) -> String {
        guard let key = conninfo.firstRange(of: "password") else { return conninfo }
        var index = key.upperBound
        while index < conninfo.endIndex, conninfo[index] == " " { index = conninfo.index(after: index) }
        guard index < conninfo.endIndex, conninfo[index] == "=" else { return conninfo }
        index = conninfo.index(after: index)
        while index < conninfo.endIndex, conninfo[index] == " " { index = conninfo.index(after: index) }
        let end: String.Index
        if index < conninfo.endIndex, conninfo[index] == "'" {
            end = conninfo[conninfo.index(after: index)...].firstIndex(of: "'").map { conninfo.index(after: $0) } ?? conninfo.endIndex
        } else {
            end = conninfo[index...].firstIndex(where: \.isWhitespace) ?? conninfo.endIndex
        }
        if index < end { secrets.append(String(conninfo[index..<end])) }
        return conninfo[..<index] + "***" + redactingPairs(String(conninfo[end...]), into: &secrets)
    }
}
