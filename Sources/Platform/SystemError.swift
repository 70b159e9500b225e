#if canImport(Glibc)
import Glibc
#endif

/// A failed system call, with `errno` and its message captured where it failed.
public struct SystemError: Error, Sendable, CustomStringConvertible {
    public let operation: String
    public let code: Int32
    public let message: String

    public init(_ operation: String, code: Int32 = errno) {
        self.operation = operation
        self.code = code
        self.message = String(cString: strerror(code))
    }

    public var description: String { "\(operation): \(message) (errno \(code))" }
}
