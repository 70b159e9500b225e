#if canImport(Glibc)
import Glibc
#endif
import App
import ArgumentParser

/// The `askd` command line.
@main
struct Askd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "askd",
        abstract: "A ChatGPT REST API served over FastCGI behind nginx.",
        subcommands: [Serve.self, TokenCommand.self, MigrateCommand.self, StoreCommand.self]
    )

    /// Parses and runs the command. A usage or configuration error is one line on stderr and
    /// exit status 2; help goes to stdout with status 0.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
            LogSink.standardError.flush()
        } catch let error as ExitStatus {
            // Workers may still be running after a cut-short drain: end the process without
            // running exit handlers under their feet. The last info lines ("stopped cleanly",
            // the last requests') wait in the log's queue: they get a moment to go out, bounded
            // because a stalled log reader could block the write(2) for good.
            LogSink.standardError.flush(waitingAtMost: 1)
            fflush(nil)
            _exit(error.code)
        } catch let error as ConfigurationError {
            fail(error.description)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            fail(message(for: error))
        }
    }

    static func fail(_ message: String) -> Never {
        LogSink.standardError.flush()
        let line = "askd: error: " + message.split(separator: "\n").joined(separator: " ") + "\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        Glibc.exit(2)
    }
}

/// Ends the process with `code` once the command has said what it needed to.
struct ExitStatus: Error {
    let code: Int32
}
