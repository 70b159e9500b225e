/// Lower-case hexadecimal, two digits per byte: askd's one way of writing bytes as hex.
public enum Hex {
    private static let alphabet: [UInt8] = Array("0123456789abcdef".utf8)

    /// The two digits of `byte`, high first, as ASCII.
    @inline(__always)
    public static func digits(of byte: UInt8) -> (high: UInt8, low: UInt8) {
        (alphabet[Int(byte >> 4)], alphabet[Int(byte & 0x0F)])
    }

    /// `bytes`, two digits each.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
            for (offset, byte) in bytes.enumerated() {
                (buffer[2 * offset], buffer[2 * offset + 1]) = digits(of: byte)
            }
            return bytes.count * 2
        }
    }

    /// `value` as 16 digits, most significant first.
    public static func encode(_ value: UInt64) -> String {
        withUnsafeBytes(of: value.bigEndian) { encode($0) }
    }
}
