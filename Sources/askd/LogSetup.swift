import App
import Logging

/// Bootstraps swift-log once, in `main`: plain lines (or JSON lines) on stderr, which journald collects.
enum LogSetup {
    static func bootstrap(level: Logger.Level, format: LogFormat = .line) {
        LoggingSystem.bootstrap { label in
            switch format {
            case .line:
                var handler = LineLogHandler(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}
