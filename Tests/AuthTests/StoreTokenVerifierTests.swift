@testable import Auth
import Foundation
import HTTP
import Store
import Testing

struct StoreTokenVerifierTests {
    final class Clock: @unchecked Sendable {
        var now = Date(timeIntervalSince1970: 1_795_700_000)
    }

    private func setUp(expiresAt: Date? = nil) throws -> (StoreTokenVerifier, MemoryStore, String, TokenRecord, Clock) {
        let store = MemoryStore()
        let secret = try TokenSecret.generate()
        let record = TokenRecord(
            id: "t1", name: "app", hash: TokenSecret.hash(secret), createdAt: Date(timeIntervalSince1970: 1_795_000_000),
            expiresAt: expiresAt
        )
        try store.insertToken(record)
        let clock = Clock()
        return (StoreTokenVerifier(store: store, clock: { clock.now }), store, secret, record, clock)
    }

    @Test func acceptsBearerAndTheBareToken() throws {
        let (verifier, _, secret, record, _) = try setUp()
        #expect(try verifier.verify(authorization: "Bearer \(secret)").id == record.id)
        #expect(try verifier.verify(authorization: "bearer  \(secret) ").id == record.id)
        #expect(try verifier.verify(authorization: secret).id == record.id)
    }

    @Test(arguments: [
        ("Bearer abc", "abc"), ("bEaReR \t abc \t", "abc"), ("\tabc", "abc"), ("Bearer\tabc", "Bearer\tabc"),
        ("bearerx abc", "bearerx abc"), ("Bearerabc", "Bearerabc"), ("Bearer a b", "a b"), ("Bearer", nil), (" BEARER ", nil),
        ("Bearer \u{00A0}abc", "abc"), ("\u{2003}Bearer abc", "abc"), ("Bearer é", "é"), ("", nil), (" \t ", nil),
    ] as [(String, String?)])
    func theTokenIsReadFromTheHeaderValue(header: String, token: String?) {
        #expect(StoreTokenVerifier.token(from: header) == token)
    }

    @Test(arguments: [nil, "", "   ", "Bearer", "Bearer   "])
    func aMissingTokenIsRequired(header: String?) throws {
        let (verifier, _, _, _, _) = try setUp()
        let error = #expect(throws: HTTPError.self) { try verifier.verify(authorization: header) }
        #expect(error == .accessTokenRequired)
        #expect(error?.headers["WWW-Authenticate"] == "Bearer")
    }

    @Test func unknownRevokedAndExpiredTokensAreInvalid() throws {
        let (verifier, store, secret, _, clock) = try setUp(expiresAt: Date(timeIntervalSince1970: 1_795_800_000))
        #expect(throws: HTTPError.invalidAccessToken) { try verifier.verify(authorization: "Bearer askd_wrong") }
        #expect(throws: HTTPError.invalidAccessToken) { try verifier.verify(authorization: "Basic dXNlcjpwYXNz") }
        clock.now = Date(timeIntervalSince1970: 1_795_800_000)
        #expect(throws: HTTPError.invalidAccessToken) { try verifier.verify(authorization: secret) }
        clock.now = Date(timeIntervalSince1970: 1_795_700_000)
        #expect(try verifier.verify(authorization: secret).name == "app")
        _ = try store.revokeToken(idOrName: "app", at: clock.now)
        #expect(throws: HTTPError.invalidAccessToken) { try verifier.verify(authorization: secret) }
    }

    /// Written in the background, off the request path, and at most once a minute.
    @Test func lastUseIsWrittenAtMostOnceAMinute() throws {
        let (verifier, store, secret, record, clock) = try setUp()
        func lastUse(becomes date: Date) -> Bool {
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                if (try? store.token(hash: record.hash)?.lastUsedAt) == date { return true }
                usleep(1_000)
            }
            return false
        }
        _ = try verifier.verify(authorization: secret)
        #expect(lastUse(becomes: clock.now))
        let first = clock.now
        clock.now = first.addingTimeInterval(30)
        _ = try verifier.verify(authorization: secret)
        usleep(50_000)
        #expect(try store.token(hash: record.hash)?.lastUsedAt == first)
        clock.now = first.addingTimeInterval(61)
        _ = try verifier.verify(authorization: secret)
        #expect(lastUse(becomes: clock.now))
    }
}
