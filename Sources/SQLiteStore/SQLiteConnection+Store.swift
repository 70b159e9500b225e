import FoundationEssentials
import Store

extension SQLiteConnection.Value {
    static func date(_ date: Date?) -> Self {
        date.map { .integer($0.milliseconds) } ?? .null
    }

    static func integer(_ value: Int?) -> Self {
        value.map { .integer(Int64($0)) } ?? .null
    }
}

extension SQLiteConnection.Row: StoredRow {}
