/// Where `askd serve` listens: a socket it makes, or one it inherits.
public enum ListenTarget: Sendable, Equatable {
    /// A Unix socket at `path`, created with `mode` and, if given, owned by `group`.
    case unix(path: String, mode: UInt32, group: String?)
    /// A TCP socket on an IPv4 `host` and `port`.
    case tcp(host: String, port: UInt16)
    /// The socket the service manager passed: fd 3 by `LISTEN_FDS`, or fd 0.
    case inherited
}
