/// Media types of Content-Type values.
public enum MediaType {
    /// The media type of a Content-Type value: what comes before any `;` parameter, without
    /// whitespace, in lower case (`Application/JSON; charset=utf-8` is `application/json`);
    /// empty for no value. Byte by byte, since it runs on every request with a body: going
    /// through `Character`s (grapheme breaking, Unicode properties) cost /ask about 2% of askd's CPU.
    public static func of(contentType: String?) -> String {
        guard let contentType else { return "" }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(contentType.utf8.count)
        for byte in contentType.utf8 {
            switch byte {
            case UInt8(ascii: ";"): return String(decoding: bytes, as: UTF8.self)
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"): continue
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): bytes.append(byte + 32)
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
