@testable import Auth
import Testing

struct TokenSecretTests {
    @Test func tokensHaveThePrefixAnd256RandomBits() throws {
        let tokens = try (0..<200).map { _ in try TokenSecret.generate() }
        #expect(Set(tokens).count == 200)
        for token in tokens {
            #expect(token.hasPrefix("askd_"))
            #expect(token.count == 5 + 43)
            #expect(token.dropFirst(5).allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        }
    }

    @Test func hashIsSHA256InHex() {
        #expect(TokenSecret.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(TokenSecret.hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func constantTimeEquality() {
        #expect(TokenSecret.constantTimeEqual("abc", "abc"))
        #expect(!TokenSecret.constantTimeEqual("abc", "abd"))
        #expect(!TokenSecret.constantTimeEqual("abc", "abcd"))
    }
}
