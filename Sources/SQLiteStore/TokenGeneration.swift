#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A number shared by every process that opens one database, in a small file beside it
/// (`<database>-tokens`), that changes whenever the tokens table does: after committing a
/// change to a token, askd writes a new random number there.
///
/// A process may then keep the token rows it read, each with the number it read just before
/// the row, and use them while the number is still the same: a token revoked by any process is
/// read again on the next request everywhere. Reading the number is one load from a shared
/// mapping of the file (one pread(2) where it cannot be mapped), where reading the row costs a
/// read transaction on a database that group commits change all the time, which makes SQLite
/// drop its page cache and read the pages again. The file is never shortened once mapped: a
/// mapping read past the end of its file faults, as SQLite's own -shm would.
///
/// The number is random, not a counter, so that two processes changing tokens at once need no
/// lock between them: whatever either writes differs from what any reader saw before.
final class TokenGeneration: @unchecked Sendable {
    private let fd: Int32
    /// The file's first page, shared with every process that maps it; nil where it cannot be.
    private let mapped: UnsafeRawPointer?

    /// Opens, or creates with the database file's mode (and owner, when run as root, as SQLite
    /// does for its -wal and -shm files), the file beside `databasePath`. Without it (a
    /// read-only folder, say), `current` is nil and readers read the table every time.
    init(databasePath: String) {
        let path = databasePath + "-tokens"
        var database = stat()
        let mode: mode_t = stat(databasePath, &database) == 0 ? database.st_mode & 0o777 : 0o600
        var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode)
        if fd >= 0 && geteuid() == 0 && database.st_uid != 0 {
            _ = fchown(fd, database.st_uid, database.st_gid)
        }
        if fd < 0 { fd = open(path, O_RDONLY | O_CLOEXEC) }
        self.fd = fd
        mapped = Self.map(fd)
    }

    deinit {
        if let mapped { munmap(UnsafeMutableRawPointer(mutating: mapped), Self.size) }
        if fd >= 0 { close(fd) }
    }

    private static let size = MemoryLayout<UInt64>.size

    /// Maps the number, first making the file hold it (zero, as before any change) if it is
    /// shorter: only a file that is at least that long, and stays so, may be read through a map.
    private static func map(_ fd: Int32) -> UnsafeRawPointer? {
        guard fd >= 0 else { return nil }
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        // Lengthening adds zeros past the end only, so a number another process wrote
        // meanwhile stays.
        if status.st_size < size { guard ftruncate(fd, off_t(size)) == 0 else { return nil } }
        guard let address = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), address != MAP_FAILED else { return nil }
        return UnsafeRawPointer(address)
    }

    /// The number now (0 before the first change), or nil if the file cannot be read.
    func current() -> UInt64? {
        if let mapped { return askd_load_shared_u64(mapped) }
        guard fd >= 0 else { return nil }
        var value: UInt64 = 0
        let count = pread(fd, &value, MemoryLayout<UInt64>.size, 0)
        guard count == 0 || count == MemoryLayout<UInt64>.size else { return nil }
        return value
    }

    /// Replaces the number, after a change to the tokens table was committed. Where it
    /// cannot, readers still read rows again at least every `TokenCache.maxAge`.
    func change() {
        guard fd >= 0 else { return }
        var generator = SystemRandomNumberGenerator()
        var value: UInt64 = generator.next()
        _ = pwrite(fd, &value, MemoryLayout<UInt64>.size, 0)
    }
}
