/// Lower-case hexadecimal, two digits per byte: askd's one way of writing bytes as hex.
public enum Hex {
    /// The two digits of `byte`, high first, as ASCII.
    @inline(__always)
    public static func digits(of byte: UInt8) -> (high: UInt8, low: UInt8) {
        (digit(byte >> 4), digit(byte & 0x0F))
    }

    /// `bytes`, two digits each. Every token check hashes and encodes the token, so this reads
    /// contiguous bytes directly rather than through the generic iterator, which cost as much
    /// as the hash itself.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        if let encoded = bytes.withContiguousStorageIfAvailable(encode(contiguous:)) { return encoded }
        return Array(bytes).withUnsafeBufferPointer(encode(contiguous:))
    }

    /// `value` as 16 digits, most significant first.
    public static func encode(_ value: UInt64) -> String {
        withUnsafeBytes(of: value.bigEndian) { encode(contiguous: $0.assumingMemoryBound(to: UInt8.self)) }
    }

    private static func encode(contiguous bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
            var index = 0
            for byte in bytes {
                buffer[index] = digit(byte >> 4)
                buffer[index + 1] = digit(byte & 0x0F)
                index += 2
            }
            return index
        }
    }

    /// The ASCII digit of a value from 0 to 15.
    @inline(__always)
    private static func digit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble
    }
}
