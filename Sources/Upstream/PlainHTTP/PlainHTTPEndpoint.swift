#if canImport(Glibc)
import Glibc
#endif

/// An `http://` URL that askd's own HTTP/1.1 client can call: a host, a port and a path, with no
/// user name, query or fragment (libcurl takes every other URL).
struct PlainHTTPEndpoint: Sendable, Equatable {
    /// The host as `getaddrinfo` takes it (an IPv6 literal without its brackets).
    let host: String
    let port: String
    /// What the `Host` header says: the URL's authority as written.
    let authority: String
    let path: String

    init?(url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        guard !authority.isEmpty, path.hasPrefix("/"),
            !url.contains(where: { $0 == "?" || $0 == "#" || $0 == "@" || $0 == " " || $0.isNewline })
        else { return nil }
        var host = Substring(authority)
        var port = "80"
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") { port = String(after.dropFirst()) } else if !after.isEmpty { return nil }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            port = String(host[host.index(after: colon)...])
            host = host[..<colon]
        }
        guard !host.isEmpty, let number = Int(port), (1...65_535).contains(number) else { return nil }
        self.host = String(host)
        self.port = port
        self.authority = String(authority)
        self.path = String(path)
    }

    /// Whether libcurl would send a plain-http request through a proxy (`http_proxy`,
    /// `all_proxy`, `ALL_PROXY`): askd's own client does not speak to proxies.
    static var proxyConfigured: Bool {
        ["http_proxy", "all_proxy", "ALL_PROXY"].contains { (name: String) in getenv(name).map { $0.pointee != 0 } ?? false }
    }
}
