import SQLiteStore
import Store

/// Opens the store that `ASKD_DATABASE` selects.
public enum StoreFactory {
    /// - Parameter turnLeaseSeconds: how long a turn lock outlives a process that died holding it;
    ///   it must be longer than any turn.
    public static func open(_ location: DatabaseLocation, turnLeaseSeconds: Double = 300) throws -> any ConversationStore {
        switch location {
        case .sqlite(let path, let busyTimeoutMilliseconds):
            do {
                return try SQLiteStore(path: path, leaseSeconds: turnLeaseSeconds, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
            } catch {
                throw ConfigurationError("ASKD_DATABASE: cannot open \(path): \(error)")
            }
        }
    }
}
