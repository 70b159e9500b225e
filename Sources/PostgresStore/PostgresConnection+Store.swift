import Store

extension PostgresConnection.Row: StoredRow {}
