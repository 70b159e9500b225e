import App
import Logging

/// Bootstraps swift-log once, in `main`: plain lines on stderr, which journald collects.
enum LogSetup {
    static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
