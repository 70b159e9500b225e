/// How askd writes its log entries (`ASKD_LOG_FORMAT`).
public enum LogFormat: String, Sendable, Equatable {
    /// `2026-11-26T15:30:05.123Z info askd: message key=value ...`: for people and journald.
    case line
    /// One JSON object per line: `time`, `level`, `message`, `request_id` and the fields, for
    /// journald's and Loki's JSON parsers.
    case json
}
