import Synchronization
import Text

/// Request ids: the client's when sane, otherwise a new random one.
public enum RequestID {
    /// The longest incoming id that is kept.
    public static let maximumLength = 128

    /// `candidate` if it is 1 to 128 characters of `A-Z a-z 0-9 . _ : -`, otherwise `nil`.
    public static func sanitized(_ candidate: String?) -> String? {
        guard let candidate, !candidate.isEmpty, candidate.utf8.count <= maximumLength else { return nil }
        let allowed = candidate.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: ":"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
        return allowed ? candidate : nil
    }

    /// A new id of 32 hex digits, unique within this process and unpredictable across processes:
    /// a process-wide counter, mixed with two random keys by splitmix64 (a bijection, so two
    /// counts never give the same id). No system call per request.
    public static func generate() -> String {
        let count = counter.add(1, ordering: .relaxed).newValue
        return Hex.encode(mix(count ^ keys.0)) + Hex.encode(mix(count &+ keys.1))
    }

    private static let counter = Atomic<UInt64>(0)
    private static let keys: (UInt64, UInt64) = {
        var generator = SystemRandomNumberGenerator()
        return (generator.next(), generator.next())
    }()

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
