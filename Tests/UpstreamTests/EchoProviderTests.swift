import Store
import Testing
@testable import Upstream

struct EchoProviderTests {
    @Test(arguments: [
        ("Hello there, how are you today?", 6), ("  a\tb\nc\r\nd\u{0B}e\u{0C}f  ", 6), ("", 0), ("   ", 0),
        ("ünï ✓\u{00A0}x\u{2003}y", 4), ("a\u{85}b", 2),
    ])
    func usageCountsWhitespaceSeparatedWords(prompt: String, words: Int) throws {
        let answer = try EchoProvider().complete(ChatRequest(model: "echo", messages: [ChatMessage(role: "user", content: prompt)]))
        #expect(answer.usage?.promptTokens == words)
        #expect(answer.text == "[echo provider] You said: \(prompt)")
        #expect(answer.usage?.completionTokens == 4 + words)
    }
}
