import App
import ArgumentParser
import Store
import Text

/// The limit flags of `askd token create` and `askd token update`: each a whole number, or
/// `none` to remove the limit (askd's defaults, `ASKD_DEFAULT_*`, then apply).
struct LimitOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Requests admitted in any 60 seconds, or none.", valueName: "n"))
    var rpm: String?

    @Option(help: ArgumentHelp("Model tokens (prompt + completion) in any 60 seconds, or none.", valueName: "n"))
    var tpm: String?

    @Option(help: ArgumentHelp("Model tokens per UTC day, or none.", valueName: "n"))
    var tokensPerDay: String?

    @Option(help: ArgumentHelp("Requests in flight at once, plain or streamed, or none.", valueName: "n"))
    var maxParallel: String?

    @Option(help: ArgumentHelp("The only models the token may use, separated by commas, or none for any.", valueName: "a,b"))
    var models: String?

    /// The change the flags ask for: nil where a flag is absent, `.some(nil)` for `none`.
    func change() throws -> TokenChange {
        var change = TokenChange()
        change.requestsPerMinute = try rpm.map { try Self.limit($0, flag: "--rpm") }
        change.tokensPerMinute = try tpm.map { try Self.limit($0, flag: "--tpm") }
        change.tokensPerDay = try tokensPerDay.map { try Self.limit($0, flag: "--tokens-per-day") }
        change.maxParallel = try maxParallel.map { try Self.limit($0, flag: "--max-parallel") }
        change.models = try models.map(Self.models)
        return change
    }

    static func limit(_ text: String, flag: String) throws -> Int? {
        if text.lowercased() == "none" { return nil }
        guard let value = Int(text), (1...1_000_000_000_000).contains(value) else {
            throw ConfigurationError("\(flag) \(text): expected a whole number from 1 to 1000000000000, or none")
        }
        return value
    }

    static func models(_ text: String) throws -> [String]? {
        if text.lowercased() == "none" { return nil }
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0.trimmingWhitespace()) }
        guard !names.contains(where: { $0.isEmpty || $0.count > 200 }) else {
            throw ConfigurationError("--models \(text): expected model names separated by commas, or none")
        }
        return names
    }
}
