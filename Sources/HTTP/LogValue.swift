import JSON
/// Values in `key=value` log lines.
public enum LogValue {
    /// `value` as is, or as a JSON string literal if it is empty or holds spaces, controls,
    /// quotes or `=`: a value can never forge another field or another line.
    public static func quotedIfNeeded(_ value: String) -> String {
        guard value.isEmpty || value.utf8.contains(where: { $0 <= 0x20 || $0 == 0x22 || $0 == 0x3D || $0 == 0x7F }) else {
            return value
        }
        return JSONString.quoted(value)
    }

    /// `text` on one line: when it holds control characters (a newline among them), it is
    /// written as the inside of a JSON string, so that a message quoting someone else's words
    /// cannot forge a log line.
    public static func singleLine(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return text }
        return String(JSONString.quoted(text).dropFirst().dropLast())
    }
}
