#if canImport(Glibc)
import Glibc
#endif
import App
import ArgumentParser
import Auth
import FoundationEssentials
import HTTP
import Store
import Text

/// `askd token ...`: access tokens in the store that ASKD_DATABASE selects.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke access tokens (in the store ASKD_DATABASE selects).",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    static func openStore() throws -> any ConversationStore {
        try StoreFactory.open(DatabaseLocation(environment: ProcessEnvironment.current()))
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print it, alone, on stdout. It is shown only this once."
        )

        @Option(help: "A unique name, such as the app that will use the token.")
        var name: String

        @Option(help: ArgumentHelp("Lifetime, such as 12h, 30d or 2w; by default the token does not expire.", valueName: "duration"))
        var expiresIn: String?

        func run() throws {
            let trimmed = name.trimmingWhitespace()
            guard !trimmed.isEmpty, trimmed.count <= 64, trimmed.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
            else {
                throw ConfigurationError("--name must be 1 to 64 printable characters")
            }
            let lifetime = try expiresIn.map(TokenLifetime.seconds)
            let store = try TokenCommand.openStore()
            let secret = try TokenSecret.generate()
            let now = Date()
            let record = TokenRecord(
                id: try TokenSecret.generateID(), name: trimmed, hash: TokenSecret.hash(secret), createdAt: now,
                expiresAt: lifetime.map { now.addingTimeInterval($0) }
            )
            do {
                try store.insertToken(record)
            } catch StoreError.duplicate {
                throw ConfigurationError("a token named \(trimmed) already exists")
            }
            print(secret)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens: never the tokens themselves.")

        func run() throws {
            let now = Date()
            let rows = try TokenCommand.openStore().allTokens().map { token in
                [
                    token.id, token.name, RFC3339.format(token.createdAt), token.lastUsedAt.map(RFC3339.format) ?? "never",
                    token.expiresAt.map(RFC3339.format) ?? "never",
                    token.revokedAt.map { "revoked " + RFC3339.format($0) } ?? (token.isValid(at: now) ? "active" : "expired"),
                ]
            }
            let header = ["ID", "NAME", "CREATED", "LAST USED", "EXPIRES", "STATUS"]
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                print(row.enumerated().map { column, text in
                    column == row.count - 1 ? text : text + String(repeating: " ", count: widths[column] - text.count)
                }.joined(separator: "  "))
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token by id or name; every askd process refuses it from its next request."
        )

        @Argument(help: ArgumentHelp("The token's id (tok_...) or name.", valueName: "id-or-name"))
        var idOrName: String

        func run() throws {
            guard let token = try TokenCommand.openStore().revokeToken(idOrName: idOrName, at: Date()) else {
                throw ConfigurationError("no token has the id or name \(idOrName)")
            }
            print("revoked \(token.id) (\(token.name))")
        }
    }
}
