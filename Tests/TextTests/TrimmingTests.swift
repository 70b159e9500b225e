import Testing
import Text

struct TrimmingTests {
    @Test func dropsLeadingAndTrailingWhitespaceOnly() {
        #expect(" \t a b \r\n".trimmingWhitespace() == "a b")
        #expect("   ".trimmingWhitespace() == "")
        #expect("x".trimmingWhitespace() == "x")
        #expect("a b"[...].trimmingWhitespace() == "a b")
    }
}
