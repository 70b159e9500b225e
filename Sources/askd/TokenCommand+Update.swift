import App
import ArgumentParser
import FoundationEssentials
import Store

extension TokenCommand {
    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a token's name, lifetime or limits, by id or name; every askd process applies it within a second.",
            discussion: "Only the flags given change. A limit of none removes it (askd's defaults, ASKD_DEFAULT_*, then apply)."
        )

        @Argument(help: ArgumentHelp("The token's id (tok_...) or name.", valueName: "id-or-name"))
        var idOrName: String

        @Option(help: "A new unique name.")
        var name: String?

        @Option(help: ArgumentHelp("A new lifetime from now, such as 12h, 30d or 2w, or none for no expiry.", valueName: "duration"))
        var expiresIn: String?

        @OptionGroup var limits: LimitOptions

        func run() throws {
            var change = try limits.change()
            change.name = try name.map(TokenCommand.checkedName)
            if let expiresIn {
                change.expiresAt = expiresIn.lowercased() == "none" ? .some(nil) : Date().addingTimeInterval(try TokenLifetime.seconds(expiresIn))
            }
            let token: TokenRecord?
            do {
                token = try TokenCommand.openStore().updateToken(idOrName: idOrName, change: change)
            } catch StoreError.duplicate {
                throw ConfigurationError("a token named \(change.name ?? "") already exists")
            }
            guard let token else { throw ConfigurationError("no token has the id or name \(idOrName)") }
            print("updated \(token.id) (\(token.name))")
        }
    }
}
