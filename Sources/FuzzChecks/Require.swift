/// Stops the process when a fuzz invariant does not hold: libFuzzer reports the trap with its
/// input, and the corpus test replaying that input crashes the same way. Unlike `precondition`,
/// it also traps in release builds.
func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    guard !condition else { return }
    fatalError("fuzz invariant broken: \(message())", file: file, line: line)
}
