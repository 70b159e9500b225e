/// A row of a SQL query, read by column index: what each SQL backend's connection hands over,
/// so that the records are decoded one way in every backend.
package protocol StoredRow {
    /// The column as text; nil for NULL.
    func text(_ column: Int32) -> String?
    /// The column as an integer; nil for NULL.
    func integer(_ column: Int32) -> Int64?
}
