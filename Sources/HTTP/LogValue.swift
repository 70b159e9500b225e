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

    /// `text` on one line: control characters (a newline among them) are written as JSON
    /// escapes, so that a message quoting someone else's words cannot forge a log line.
    public static func singleLine(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
