@testable import API
import Auth
import Foundation
import HTTP
import Store
import Testing

/// The share routes over a memory store: Alice's conversation c0, and Bob.
private struct ShareFixture {
    let exports: ExportFixture
    let application: Application
    var store: MemoryStore { exports.store }

    init(links: ShareLinks = ShareLinks()) throws {
        exports = try ExportFixture()
        try exports.addConversations(1)
        let verifier = StoreTokenVerifier(store: exports.store)
        let shares = ShareHandler(store: exports.store, verifier: verifier, links: links)
        var router = Router()
        router.post("/conversation/{conversation_id}/share", use: shares.create)
        router.get("/shares", use: shares.list)
        router.delete("/share/{share_id}", use: shares.delete)
        router.get("/s/{share_id}", use: PublicShareHandler(store: exports.store).handle)
        application = Application(router: router, logger: .init(label: "test"))
    }

    func send(_ method: String, _ path: String, token: String? = nil, body: String = "", headers extra: HTTPHeaders = [:]) -> (Int, [String: Any], Response) {
        var headers = extra
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        if !body.isEmpty { headers.add(name: "Content-Type", value: "application/json") }
        var request = Request(method: method, path: path, headers: headers, body: Array(body.utf8))
        let response = application.respond(to: &request)
        let json = (try? JSONSerialization.jsonObject(with: Data(response.bodyText.utf8))) as? [String: Any] ?? [:]
        return (response.status.code, json, response)
    }
}

@Suite struct ShareHandlerTests {
    @Test func aShareIsMadeReadAndRevoked() throws {
        let fixture = try ShareFixture()
        let proxied: HTTPHeaders = ["X-Forwarded-Proto": "https", "X-Forwarded-Host": "chat.example:8443", "Host": "chat.example"]
        let (status, created, _) = fixture.send("POST", "/conversation/c0/share", token: fixture.exports.alice, headers: proxied)
        #expect(status == 201, "\(created)")
        let id = try #require(created["share_id"] as? String)
        #expect(id.count == 22 && Base64URLAlphabet.contains(id), "128 bits, base64url: \(id)")
        #expect(created["url"] as? String == "https://chat.example:8443/shared/\(id)")
        let expires = try #require((created["expires_at"] as? String).flatMap(RFC3339.parse))
        #expect(abs(expires.timeIntervalSinceNow - 30 * 86_400) < 5, "30 days unless asked")

        // Public: no token, the snapshot only.
        let (read, shared, response) = fixture.send("GET", "/s/\(id)")
        #expect(read == 200)
        #expect(Set(shared.keys) == ["title", "shared_at", "messages"])
        #expect(shared["title"] as? String == "q0.0 *bold*")
        let messages = try #require(shared["messages"] as? [[String: Any]])
        #expect(messages.map { Set($0.keys) } == [["role", "content", "created_at"], ["role", "content", "created_at"]])
        #expect(messages.map { $0["content"] as? String } == ["q0.0 *bold*", "a0.0\nline two"])
        #expect(response.headers["Cache-Control"] == "no-store")
        #expect(!response.bodyText.contains("c0") && !response.bodyText.contains("t-alice"), "no ids: \(response.bodyText)")

        let (_, list, _) = fixture.send("GET", "/shares", token: fixture.exports.alice, headers: proxied)
        let listed = try #require((list["shares"] as? [[String: Any]])?.first)
        #expect(listed["share_id"] as? String == id)
        #expect(listed["conversation_id"] as? String == "c0")
        #expect(listed["url"] as? String == created["url"] as? String)
        #expect(listed["expires_at"] as? String == created["expires_at"] as? String)
        #expect((fixture.send("GET", "/shares", token: fixture.exports.bob).1["shares"] as? [Any])?.isEmpty == true)

        // Bob cannot revoke it: the same 404 as for an unknown share.
        let foreign = fixture.send("DELETE", "/share/\(id)", token: fixture.exports.bob)
        let unknown = fixture.send("DELETE", "/share/AAAAAAAAAAAAAAAAAAAAAA", token: fixture.exports.bob)
        #expect(foreign.0 == 404 && unknown.0 == 404)
        #expect(foreign.2.bodyText == unknown.2.bodyText)
        #expect(fixture.send("DELETE", "/share/\(id)", token: fixture.exports.alice).0 == 204)
        let gone = fixture.send("GET", "/s/\(id)")
        #expect(gone.0 == 404)
        #expect(gone.2.bodyText == fixture.send("GET", "/s/AAAAAAAAAAAAAAAAAAAAAA").2.bodyText)
        #expect(fixture.send("DELETE", "/share/\(id)", token: fixture.exports.alice).0 == 404)
    }

    @Test func expiresInTakesDurationsUpToAYearOrNull() throws {
        let fixture = try ShareFixture(links: ShareLinks(publicURL: "https://askd.example.com/"))
        let alice = fixture.exports.alice
        let (_, week, _) = fixture.send("POST", "/conversation/c0/share", token: alice, body: #"{"expires_in": "7d"}"#)
        #expect(abs((week["expires_at"] as? String).flatMap(RFC3339.parse)!.timeIntervalSinceNow - 7 * 86_400) < 5)
        #expect((week["url"] as? String)?.hasPrefix("https://askd.example.com/shared/") == true)
        let (status, never, _) = fixture.send("POST", "/conversation/c0/share", token: alice, body: #"{"expires_in": null}"#)
        #expect(status == 201)
        #expect(never["expires_at"] is NSNull)
        #expect(fixture.send("POST", "/conversation/c0/share", token: alice, body: #"{"expires_in": "365d"}"#).0 == 201)
        for bad in [#"{"expires_in": "366d"}"#, #"{"expires_in": "7"}"#, #"{"expires_in": 7}"#, #"{"expires_in": "0d"}"#, #"{"expires": "7d"}"#, "[1]"] {
            let (code, body, _) = fixture.send("POST", "/conversation/c0/share", token: alice, body: bad)
            #expect(code == 400, "\(bad): \(body)")
        }
    }

    @Test func anotherTokensConversationIsUnknown() throws {
        let fixture = try ShareFixture()
        let foreign = fixture.send("POST", "/conversation/c0/share", token: fixture.exports.bob)
        let unknown = fixture.send("POST", "/conversation/nope/share", token: fixture.exports.bob)
        #expect(foreign.0 == 404 && unknown.0 == 404)
        #expect(foreign.2.bodyText == unknown.2.bodyText)
        #expect(fixture.send("POST", "/conversation/c0/share").0 == 401)
        #expect(fixture.send("GET", "/shares").0 == 401)
        #expect(fixture.send("DELETE", "/share/x").0 == 401)
    }

    @Test func linksFallBackToHostThenLocalhost() {
        let links = ShareLinks()
        #expect(links.url(for: "x", request: Request(method: "GET", path: "/", headers: ["Host": "h.example"])) == "http://h.example/shared/x")
        #expect(links.url(for: "x", request: Request(method: "GET", path: "/", headers: ["X-Forwarded-Host": "a b", "Host": "h"])) == "http://h/shared/x")
        #expect(links.url(for: "x", request: Request(method: "GET", path: "/")) == "http://localhost/shared/x")
        #expect(links.url(for: "x", request: Request(method: "GET", path: "/", headers: ["X-Forwarded-Proto": "gopher", "Host": "h"])) == "http://h/shared/x")
    }
}

private enum Base64URLAlphabet {
    static func contains(_ text: String) -> Bool {
        text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }
}
