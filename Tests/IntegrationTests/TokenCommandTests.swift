import Foundation
import Testing

extension IntegrationTests {
    /// `askd token create | list | revoke` against a real SQLite file.
    @Suite struct TokenCommands {
        @Test func createListAndRevoke() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("askd-tok-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let environment = ["ASKD_DATABASE": directory.appendingPathComponent("askd.sqlite").path]

            let created = try Stack.run(Stack.askdBinary, ["token", "create", "--name", "mobile app"], environment: environment)
            #expect(created.status == 0, "\(created.stderr)")
            #expect(created.stderr.isEmpty)
            let token = created.stdout.trimmingCharacters(in: .newlines)
            #expect(created.stdout == token + "\n", "the token alone on stdout")
            #expect(token.hasPrefix("askd_") && token.count == 48)

            let duplicate = try Stack.run(Stack.askdBinary, ["token", "create", "--name", "mobile app"], environment: environment)
            #expect(duplicate.status == 2)
            #expect(duplicate.stderr.contains("already exists"))
            #expect(duplicate.stdout.isEmpty)

            let listed = try Stack.run(Stack.askdBinary, ["token", "list"], environment: environment)
            #expect(listed.status == 0)
            #expect(listed.stdout.contains("mobile app"))
            #expect(listed.stdout.contains("active"))
            #expect(!listed.stdout.contains(token), "list never shows a token")
            #expect(!listed.stdout.contains(String(token.dropFirst(5).prefix(12))))

            let revoked = try Stack.run(Stack.askdBinary, ["token", "revoke", "mobile app"], environment: environment)
            #expect(revoked.status == 0)
            #expect(try Stack.run(Stack.askdBinary, ["token", "list"], environment: environment).stdout.contains("revoked"))

            let unknown = try Stack.run(Stack.askdBinary, ["token", "revoke", "nobody"], environment: environment)
            #expect(unknown.status == 2)
            #expect(unknown.stderr.split(separator: "\n").count == 1)
        }

        @Test func withoutADatabaseItSaysWhichVariableToSet() throws {
            let result = try Stack.run(Stack.askdBinary, ["token", "list"], environment: ["ASKD_DATABASE": "", "STATE_DIRECTORY": ""])
            #expect(result.status == 2)
            #expect(result.stderr.contains("ASKD_DATABASE"))
        }
    }
}
