#if canImport(Glibc)
import Glibc
#endif

/// The process's limit on open descriptors. Every request answered later holds two (its
/// connection from nginx and its transfer to the model), so ten thousand streams need more than
/// the soft limit most shells and services start with (1024), while the hard limit is higher.
public enum OpenFileLimit {
    /// Raises the soft limit to the hard one; the limit in effect afterwards.
    @discardableResult
    public static func raiseToHardLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return -1 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return Int(clamping: raised.rlim_cur) }
        }
        return Int(clamping: limit.rlim_cur)
    }
}
