import HTTP
import Text

/// Share ids and the links that show them.
public struct ShareLinks: Sendable, Equatable {
    /// Where askd is reached from outside, such as `https://askd.example.com`, without a
    /// trailing slash (`ASKD_PUBLIC_URL`); nil: the scheme and host of each request.
    public var publicURL: String?

    public init(publicURL: String? = nil) {
        self.publicURL = publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
    }

    /// The page that shows share `id` in a browser: `<base>/shared/<id>`.
    func url(for id: String, request: Request) -> String {
        "\(base(of: request))/shared/\(id)"
    }

    /// `publicURL`, else the scheme and host nginx passed (`X-Forwarded-Proto`, and
    /// `X-Forwarded-Host`, the Host header as the client sent it, port included, or else Host).
    private func base(of request: Request) -> String {
        if let publicURL { return publicURL }
        let scheme = request.headers["X-Forwarded-Proto"].flatMap { $0 == "https" || $0 == "http" ? $0 : nil } ?? "http"
        let host = [request.headers["X-Forwarded-Host"], request.headers["Host"]].lazy.compactMap { $0 }.first(where: Self.isHost) ?? "localhost"
        return "\(scheme)://\(host)"
    }

    /// A host name or address with an optional port: nothing that could end the URL's authority.
    static func isHost(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 255
            && text.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"):
                    true
                default:
                    false
                }
            }
    }

    /// A new share id: 16 bytes (128 bits) from the kernel's CSPRNG, base64url (22 characters).
    static func makeID() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<2 {
            let word: UInt64 = generator.next()
            bytes += (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) }
        }
        return Base64URL.encode(bytes)
    }

    /// Whether `id` could be a share id: 1 to 64 base64url characters. Others are unknown.
    static func isWellFormed(_ id: String) -> Bool {
        ConversationID.isWellFormed(id)
    }
}
