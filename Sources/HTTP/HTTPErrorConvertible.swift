/// An error of another layer (the store, the upstream, authentication) that knows the response
/// it becomes: `Application.errorResponse`, the one place errors become responses, asks it.
public protocol HTTPErrorConvertible: Error {
    /// The error as the client sees it; details that only the log may see go in `logDetail`.
    var httpError: HTTPError { get }
}
