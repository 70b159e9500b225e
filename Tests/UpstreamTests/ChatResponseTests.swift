import Testing
@testable import Upstream

struct ChatResponseTests {
    /// The model name and finish reason come from the upstream: whatever it sends, what askd
    /// keeps is short and free of control characters.
    @Test func upstreamNamesAreKeptStorable() {
        let response = ChatResponse(text: "a\u{0}b", model: "gpt\u{0}\n4", finishReason: "stop\r", usage: nil)
        #expect(response.model == "gpt\u{FFFD}\u{FFFD}4")
        #expect(response.finishReason == "stop\u{FFFD}")
        #expect(response.text == "a\u{0}b", "the answer itself is kept exactly")
        let long = ChatResponse(text: "", model: String(repeating: "é", count: 10_000), finishReason: "stop", usage: nil)
        #expect(long.model.unicodeScalars.count == ChatResponse.nameLimit)
        #expect(ChatResponse(text: "", model: "gpt-4o-mini", finishReason: "stop", usage: nil).model == "gpt-4o-mini")
    }
}
