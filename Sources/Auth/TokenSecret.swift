import CCrypto
import Text

/// Access-token secrets: how they are made, hashed and compared.
///
/// A token is `askd_` and 43 base64url characters: 32 random bytes from the OS CSPRNG (through
/// OpenSSL's RAND_bytes). Only its SHA-256 is stored, as 64 lower-case hex digits.
public enum TokenSecret {
    public static let prefix = "askd_"
    static let randomBytes = 32

    /// A new token.
    public static func generate() throws -> String {
        var bytes = [UInt8](repeating: 0, count: randomBytes)
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else { throw AuthError.randomnessUnavailable }
        return prefix + Base64URL.encode(bytes)
    }

    /// SHA-256 of the token's UTF-8 bytes, as lower-case hex.
    public static func hash(_ token: String) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        var token = token
        let ok = token.withUTF8 { buffer in
            EVP_Digest(buffer.baseAddress, buffer.count, &digest, &length, SHA256Algorithm.shared.md, nil)
        }
        precondition(ok == 1 && length == 32, "OpenSSL's SHA-256 failed")
        return Hex.encode(digest[..<32])
    }

    /// OpenSSL 3's SHA-256, fetched once: `EVP_sha256()` makes every digest look the algorithm
    /// up again in the provider tables, under a lock.
    private struct SHA256Algorithm: @unchecked Sendable {
        static let shared = SHA256Algorithm()
        let md: OpaquePointer?

        private init() {
            md = EVP_MD_fetch(nil, "SHA256", nil) ?? EVP_sha256()
        }
    }

    /// Whether two hashes are equal, in time that does not depend on where they differ.
    public static func constantTimeEqual(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8)
        let b = Array(rhs.utf8)
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }
}

extension TokenSecret {
    /// A new public token id: `tok_` and 16 hex digits.
    public static func generateID() throws -> String {
        var bytes = [UInt8](repeating: 0, count: 8)
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else { throw AuthError.randomnessUnavailable }
        return "tok_" + Hex.encode(bytes)
    }
}
