@testable import App
import Testing

struct DatabaseLocationTests {
    @Test func pathsAndSQLiteURLs() throws {
        #expect(try DatabaseLocation(environment: ["ASKD_DATABASE": "var/askd.sqlite"]) == .sqlite(path: "var/askd.sqlite"))
        #expect(try DatabaseLocation(environment: ["ASKD_DATABASE": "sqlite:/srv/a.db"]) == .sqlite(path: "/srv/a.db"))
        #expect(try DatabaseLocation(environment: ["ASKD_DATABASE": "sqlite:///srv/a.db"]) == .sqlite(path: "/srv/a.db"))
        #expect(try DatabaseLocation(environment: ["STATE_DIRECTORY": "/var/lib/askd"]) == .sqlite(path: "/var/lib/askd/askd.sqlite"))
        #expect(try DatabaseLocation(environment: ["STATE_DIRECTORY": "/var/lib/askd:/var/lib/other"]) == .sqlite(path: "/var/lib/askd/askd.sqlite"))
    }

    @Test func postgresURLs() throws {
        let url = "postgres://askd:s3cret@db.internal:5432/askd?sslmode=verify-full"
        #expect(try DatabaseLocation(environment: ["ASKD_DATABASE": url]) == .postgres(.init(url: url)))
        let tuned = try DatabaseLocation(environment: [
            "ASKD_DATABASE": "postgresql://h/db", "ASKD_PG_MAX_CONNECTIONS": "4", "ASKD_PG_STATEMENT_TIMEOUT_MS": "2500",
        ])
        #expect(tuned == .postgres(.init(url: "postgresql://h/db", maxConnections: 4, statementTimeoutMilliseconds: 2_500)))
        #expect(try DatabaseLocation(environment: ["ASKD_DATABASE": url]).description == "postgres://askd:***@db.internal:5432/askd?sslmode=verify-full")
        #expect(try DatabaseLocation(environment: ["ASKD_DATABASE": "postgresql://u@h/db"]).description == "postgresql://u@h/db")
        for (name, value) in [("ASKD_PG_MAX_CONNECTIONS", "0"), ("ASKD_PG_STATEMENT_TIMEOUT_MS", "fast")] {
            let error = #expect(throws: ConfigurationError.self) { try DatabaseLocation(environment: ["ASKD_DATABASE": url, name: value]) }
            #expect(error?.description.contains(name) == true)
            #expect(error?.description.contains("s3cret") == false)
        }
    }

    @Test(arguments: [[:], ["ASKD_DATABASE": "mysql://u:p@h/db"], ["ASKD_DATABASE": "sqlite:"]])
    func unusableValuesNameTheVariable(environment: [String: String]) {
        let error = #expect(throws: ConfigurationError.self) { try DatabaseLocation(environment: environment) }
        #expect(error?.description.contains("ASKD_DATABASE") == true)
        #expect(error?.description.contains(":p@") == false, "never echo a password")
    }

    @Test func searchLanguage() throws {
        let database = ["ASKD_DATABASE": "postgresql://h/db"]
        #expect(try DatabaseLocation(environment: database) == .postgres(.init(url: "postgresql://h/db", searchLanguage: "simple")))
        for name in ["english", "pg_catalog.german", "my_config2"] {
            let environment = database.merging(["ASKD_SEARCH_LANGUAGE": name]) { $1 }
            #expect(try DatabaseLocation(environment: environment) == .postgres(.init(url: "postgresql://h/db", searchLanguage: name)))
        }
        for name in ["bad;name", "2x", "a.b.c", "'english'", String(repeating: "x", count: 64), "."] {
            let environment = database.merging(["ASKD_SEARCH_LANGUAGE": name]) { $1 }
            let error = #expect(throws: ConfigurationError.self) { try DatabaseLocation(environment: environment) }
            #expect(error?.description.contains("ASKD_SEARCH_LANGUAGE") == true, "\(name)")
        }
    }

    @Test func busyTimeout() throws {
        let database = ["ASKD_DATABASE": "a.db"]
        #expect(try DatabaseLocation(environment: database) == .sqlite(path: "a.db", busyTimeoutMilliseconds: 10_000))
        for (value, milliseconds): (String, Int32) in [("300", 300), (" 0 ", 0), ("600000", 600_000), ("", 10_000)] {
            let environment = database.merging(["ASKD_SQLITE_BUSY_TIMEOUT_MS": value]) { $1 }
            #expect(try DatabaseLocation(environment: environment) == .sqlite(path: "a.db", busyTimeoutMilliseconds: milliseconds), "\(value)")
        }
        let state = ["STATE_DIRECTORY": "/var/lib/askd", "ASKD_SQLITE_BUSY_TIMEOUT_MS": "250"]
        #expect(try DatabaseLocation(environment: state) == .sqlite(path: "/var/lib/askd/askd.sqlite", busyTimeoutMilliseconds: 250))
    }

    @Test(arguments: ["-1", "600001", "1.5", "5s", "99999999999"])
    func aBadBusyTimeoutNamesTheVariable(value: String) {
        let error = #expect(throws: ConfigurationError.self) {
            try DatabaseLocation(environment: ["ASKD_DATABASE": "a.db", "ASKD_SQLITE_BUSY_TIMEOUT_MS": value])
        }
        #expect(error?.description.contains("ASKD_SQLITE_BUSY_TIMEOUT_MS=\(value)") == true)
    }

    @Test func lifetimes() throws {
        #expect(try TokenLifetime.seconds("90s") == 90)
        #expect(try TokenLifetime.seconds("30d") == 30 * 86_400)
        #expect(try TokenLifetime.seconds("2w") == 14 * 86_400)
        for bad in ["", "d", "0d", "-1d", "1y", "1.5h", "99999999d"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try TokenLifetime.seconds(bad) }
        }
    }
}
