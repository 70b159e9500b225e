#if canImport(Glibc)
import Glibc
import Text
#endif

/// Conversation ids: askd makes UUIDs; it accepts any id of 1 to 64 letters, digits, `-` and `_`.
///
/// askd's UUIDs are version 7 (RFC 9562): the first 48 bits are the Unix time in milliseconds,
/// the other 74 random. Ids made one after another sort together, so a new conversation's rows
/// go to the end of the conversations and messages indexes, where the last ones went, instead
/// of to random pages all over them: a group commit writes a few pages to the WAL, not three
/// per turn, and the checkpointer copies as few back.
package enum ConversationID {
    package static func isWellFormed(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64
            && id.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                    true
                default:
                    false
                }
            }
    }

    /// A new UUIDv7, in lower case.
    static func make() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return make(milliseconds: UInt64(time.tv_sec) * 1000 + UInt64(time.tv_nsec / 1_000_000), random: randomBytes())
    }

    /// The UUIDv7 of a time and 10 random bytes (of which 74 bits are used).
    static func make(milliseconds: UInt64, random: [UInt8]) -> String {
        precondition(random.count == 10, "a UUIDv7 takes 10 random bytes")
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - index))) }
        bytes[6] = 0x70 | (random[0] & 0x0F)
        bytes[7] = random[1]
        bytes[8] = 0x80 | (random[2] & 0x3F)
        for index in 9..<16 { bytes[index] = random[index - 6] }
        return String(unsafeUninitializedCapacity: 36) { out in
            var position = 0
            for (index, byte) in bytes.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    out[position] = UInt8(ascii: "-")
                    position += 1
                }
                (out[position], out[position + 1]) = Hex.digits(of: byte)
                position += 2
            }
            return position
        }
    }

    /// 10 bytes from the kernel's CSPRNG (getrandom(2), 8 bytes a call); Foundation's UUID
    /// opens, reads and closes /dev/urandom for each one.
    private static func randomBytes() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next()
        let low = generator.next() as UInt64
        return (0..<8).map { UInt8(truncatingIfNeeded: high >> (8 * $0)) } + (0..<2).map { UInt8(truncatingIfNeeded: low >> (8 * $0)) }
    }
}
