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
}
