import HTTP

/// Percent-decoding, form pairs and media types. Input: any bytes, read as a query string or a
/// form body (as the FastCGI layer makes its strings: invalid UTF-8 becomes U+FFFD).
///
/// Invariants: nothing traps; text without `%` (or `+` as a space) decodes to itself; what
/// decodes, encoded again, decodes to the same; decoded pairs, encoded again, decode to the same
/// pairs; `value(of:)` agrees with `pairs` on the first value of a name; a field that does not
/// decode becomes a 400 whose message shows at most 64 of its code points.
public enum FormFuzz {
    public static func check(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        checkDecoding(text)
        checkPairs(text)
        let mediaType = MediaType.of(contentType: text)
        require(
            !mediaType.utf8.contains { (0x41...0x5A).contains($0) || [0x20, 0x09, 0x0D, 0x0A, UInt8(ascii: ";")].contains($0) },
            "media type \(mediaType.debugDescription) keeps upper case, whitespace or a parameter"
        )
    }

    private static func checkDecoding(_ text: String) {
        for plusIsSpace in [false, true] {
            let decoded = PercentDecoding.decode(text, plusIsSpace: plusIsSpace)
            if !text.utf8.contains(UInt8(ascii: "%")) && !(plusIsSpace && text.utf8.contains(UInt8(ascii: "+"))) {
                require(decoded == text, "text without escapes decodes to \(decoded.debugDescription)")
            }
            guard let decoded else { continue }
            let again = PercentDecoding.decode(PercentEncoding.encode(decoded), plusIsSpace: plusIsSpace)
            require(again == decoded, "\(decoded.debugDescription) encoded and decoded is \(again.debugDescription)")
        }
    }

    private static func checkPairs(_ text: String) {
        let pairs: [(name: String, value: String)]
        do {
            pairs = try FormEncoding.pairs(text)
        } catch {
            let httpError = HTTPError(error)
            require(httpError.status == .badRequest, "an undecodable field is \(httpError.status)")
            if let field = error.field {
                let shown = httpError.message.dropLast(" is not percent-encoded UTF-8".count)
                require(shown.unicodeScalars.count <= 64, "the message shows \(shown.unicodeScalars.count) code points of \(field.debugDescription)")
            }
            return
        }
        let encoded = pairs.map { PercentEncoding.encode($0.name) + "=" + PercentEncoding.encode($0.value) }.joined(separator: "&")
        let again = try? FormEncoding.pairs(encoded)
        require(
            again.map { $0.elementsEqual(pairs) { $0.name == $1.name && $0.value == $1.value } } == true,
            "pairs \(pairs) encoded as \(encoded) read back as \(again.map { "\($0)" } ?? "an error")"
        )
        for (name, _) in pairs {
            let first = pairs.first { $0.name == name }?.value
            let value = try? FormEncoding.value(of: name, in: text)
            require(value == first, "value(of: \(name.debugDescription)) is \(value.debugDescription), pairs say \(first.debugDescription)")
        }
    }
}
