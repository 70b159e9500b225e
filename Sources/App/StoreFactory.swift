import SQLiteStore
import Store

/// Opens the store that `ASKD_DATABASE` selects.
public enum StoreFactory {
    public static func open(_ location: DatabaseLocation) throws -> any ConversationStore {
        switch location {
        case .sqlite(let path):
            do {
                return try SQLiteStore(path: path)
            } catch {
                throw ConfigurationError("ASKD_DATABASE: cannot open \(path): \(error)")
            }
        }
    }
}
