import Testing
import Text

struct Base64URLTests {
    /// RFC 4648's test vectors (section 10), without padding.
    @Test(arguments: [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")])
    func rfc4648Vectors(plain: String, encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(plain.utf8))
    }

    @Test func usesTheURLSafeAlphabet() {
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(Base64URL.decode("+/+/") == nil)
        #expect(Base64URL.decode("Zm9v=") == nil, "no padding")
        #expect(Base64URL.decode("Z") == nil, "a single character holds no byte")
    }

    @Test func roundTripsEveryLength() {
        let bytes = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for count in 0...bytes.count {
            #expect(Base64URL.decode(Base64URL.encode(Array(bytes.prefix(count)))) == Array(bytes.prefix(count)))
        }
    }
}
