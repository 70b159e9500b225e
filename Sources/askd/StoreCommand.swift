#if canImport(Glibc)
import Glibc
#endif
import App
import ArgumentParser

/// `askd migrate` and `askd store copy`: the store's schema and moving between stores.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Bring the schema of the store ASKD_DATABASE selects up to date, then exit.",
        discussion: """
            askd serve does this itself at start-up unless given --no-migrate. Several hosts may \
            run it at once: PostgreSQL migrations take an advisory lock, so each runs once.
            """
    )

    func run() throws {
        let location = try DatabaseLocation(environment: ProcessEnvironment.current())
        _ = try StoreFactory.open(location, migrate: true)
        print("askd: the schema of \(location.description) is up to date")
    }
}

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Move a deployment between stores.",
        subcommands: [Copy.self]
    )

    struct Copy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy every token, conversation and message from one store into another, and verify the copy.",
            discussion: """
                For example, from a single host's SQLite file to the PostgreSQL database of several \
                hosts: askd store copy --from /var/lib/askd/askd.sqlite --to postgres://askd@db/askd. \
                Ids, owners, dates and order are kept. Running it again gives the same result. Stop \
                askd on the source first, so that nothing changes during the copy.
                """
        )

        @Option(help: ArgumentHelp("The store to read: a SQLite path or sqlite: URL, or a postgres:// URL.", valueName: "location"))
        var from: String

        @Option(help: ArgumentHelp("The store to write, which must be empty unless --force is given.", valueName: "location"))
        var to: String

        @Flag(help: "Copy into a store that already holds data; what has the same id is replaced.")
        var force = false

        func run() throws {
            let environment = ProcessEnvironment.current()
            let source = try DatabaseLocation(from, environment: environment, naming: "--from")
            let target = try DatabaseLocation(to, environment: environment, naming: "--to")
            guard source != target else { throw ConfigurationError("--from and --to name the same store") }
            // Opening a SQLite file creates it: a mistyped source would copy nothing, and say so.
            if case .sqlite(let path, _) = source, access(path, F_OK) != 0 {
                throw ConfigurationError("--from \(path): no such file")
            }
            let summary: StoreCopy.Summary
            do {
                summary = try StoreCopy.copy(
                    from: try StoreFactory.open(source, naming: "--from"), to: try StoreFactory.open(target, naming: "--to"), force: force
                )
            } catch let refusal as StoreCopy.Refusal {
                throw ConfigurationError(refusal.description)
            }
            print("askd: \(summary) from \(source.description) to \(target.description)")
        }
    }
}
