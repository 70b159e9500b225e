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
        abstract: "Create, update, list and revoke access tokens (in the store ASKD_DATABASE selects).",
        discussion: """
            A token's limits hold for every askd process and host that shares the store: --rpm (requests \
            in any 60 s), --tpm (model tokens in any 60 s), --tokens-per-day (model tokens per UTC day), \
            --max-parallel (requests in flight at once) and --models (the only models it may use, else \
            403). A request over a limit gets 429 with Retry-After. Where a token sets none, \
            ASKD_DEFAULT_RPM, ASKD_DEFAULT_TPM, ASKD_DEFAULT_TOKENS_PER_DAY and \
            ASKD_DEFAULT_MAX_PARALLEL of askd serve apply. `askd token update` takes effect within a \
            second in every process.
            """,
        subcommands: [Create.self, Update.self, List.self, Revoke.self]
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

        @OptionGroup var limits: LimitOptions

        func run() throws {
            let trimmed = try TokenCommand.checkedName(name)
            let lifetime = try expiresIn.map(TokenLifetime.seconds)
            let change = try limits.change()
            let store = try TokenCommand.openStore()
            let secret = try TokenSecret.generate()
            let now = Date()
            let record = change.applied(to: TokenRecord(
                id: try TokenSecret.generateID(), name: trimmed, hash: TokenSecret.hash(secret), createdAt: now,
                expiresAt: lifetime.map { now.addingTimeInterval($0) }
            ))
            do {
                try store.insertToken(record)
            } catch StoreError.duplicate {
                throw ConfigurationError("a token named \(trimmed) already exists")
            }
            print(secret)
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

    /// A token name as given, trimmed: 1 to 64 printable characters.
    static func checkedName(_ name: String) throws -> String {
        let trimmed = name.trimmingWhitespace()
        guard !trimmed.isEmpty, trimmed.count <= 64, trimmed.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw ConfigurationError("--name must be 1 to 64 printable characters")
        }
        return trimmed
    }
}
