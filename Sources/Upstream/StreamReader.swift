/// What a streamed answer's events go to, on the `TransferLoop`'s thread: one reader per call,
/// touched by that thread only. Throwing from either method abandons the transfer.
protocol StreamReader: AnyObject, Sendable {
    /// Takes the next event of the stream.
    func take(_ event: ServerSentEvent) throws

    /// Called about once a second, also while the upstream is silent.
    func idle() throws
}
