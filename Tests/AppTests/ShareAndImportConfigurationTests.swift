@testable import App
import API
import Testing

/// `ASKD_PUBLIC_URL` and `ASKD_MAX_IMPORT_BYTES`.
struct ShareAndImportConfigurationTests {
    @Test func importsHaveTheirOwnBodyLimit() throws {
        let defaults = try configuration(flags: .init(), environment: [:])
        #expect(defaults.server.maxBodyBytes(forPath: "/conversations/import") == 64 << 20)
        #expect(defaults.server.maxBodyBytes(forPath: "/conversations") == 1 << 20)
        let set = try configuration(flags: .init(), environment: ["ASKD_MAX_IMPORT_BYTES": "1000"])
        #expect(set.server.maxBodyBytes(forPath: "/conversations/import") == 1000)
        #expect(throws: ConfigurationError.self) { try configuration(flags: .init(), environment: ["ASKD_MAX_IMPORT_BYTES": "0"]) }
    }

    @Test func thePublicURLIsAnAbsoluteHTTPURL() throws {
        #expect(try configuration(flags: .init(), environment: [:]).shareLinks == ShareLinks())
        let set = try configuration(flags: .init(), environment: ["ASKD_PUBLIC_URL": "https://askd.example.com/"])
        #expect(set.shareLinks == ShareLinks(publicURL: "https://askd.example.com"))
        #expect(try configuration(flags: .init(), environment: ["ASKD_PUBLIC_URL": "http://10.0.0.1:8080/chat"]).shareLinks.publicURL == "http://10.0.0.1:8080/chat")
        for bad in ["askd.example.com", "ftp://askd.example.com", "https://", "https://a b", "https://a/?x=1", "https://a/#x", "https://ex@mple"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try configuration(flags: .init(), environment: ["ASKD_PUBLIC_URL": bad]) }
        }
    }
}
