import Store
import Testing
@testable import Upstream

struct ChatStreamAccumulatorTests {
    /// Parses a stream body and folds its chunks, as the streaming client will.
    private func accumulate(_ body: [UInt8], forwarded: inout [String]) throws -> (ChatStreamAccumulator, sawDone: Bool) {
        var parser = ServerSentEventParser()
        var accumulator = ChatStreamAccumulator()
        var sawDone = false
        for event in try parser.feed(body) + parser.finish() {
            guard let chunk = try ChatCompletionChunk.decode(event.data) else {
                sawDone = true
                break
            }
            if let delta = accumulator.add(chunk) { forwarded.append(delta) }
        }
        return (accumulator, sawDone)
    }

    @Test(arguments: OpenAIStreamFixture.LineEnding.allCases)
    func recordedStreamGivesTheWholeAnswer(ending: OpenAIStreamFixture.LineEnding) throws {
        var forwarded: [String] = []
        let (accumulator, sawDone) = try accumulate(ending.apply(to: OpenAIStreamFixture.body), forwarded: &forwarded)
        #expect(sawDone)
        #expect(forwarded == ["Grüße", " aus 東京", " 🎉👩‍💻", "\nSay \"data: hi\" ✓"])
        #expect(forwarded.joined() == accumulator.text)
        #expect(accumulator.response(defaultModel: "default") == ChatResponse(
            text: OpenAIStreamFixture.text, model: "gpt-4o-mini-2024-07-18", finishReason: "stop",
            usage: TokenUsage(promptTokens: 19, completionTokens: 11, totalTokens: 30)
        ))
    }

    @Test func streamWithoutDoneOrFinalBlankLineStillGivesItsLastChunk() throws {
        var body = OpenAIStreamFixture.body
        body.removeLast("\n\ndata: [DONE]\n\n".count)
        #expect(body.hasSuffix("}}}"))
        var forwarded: [String] = []
        let (accumulator, sawDone) = try accumulate(Array(body.utf8), forwarded: &forwarded)
        #expect(!sawDone)
        #expect(accumulator.text == OpenAIStreamFixture.text)
        #expect(accumulator.usage == TokenUsage(promptTokens: 19, completionTokens: 11, totalTokens: 30))
    }

    @Test func addReturnsOnlyNonEmptyDeltas() {
        var accumulator = ChatStreamAccumulator()
        #expect(accumulator.add(ChatCompletionChunk(model: "m", delta: "")) == nil)
        #expect(accumulator.add(ChatCompletionChunk(model: "m")) == nil)
        #expect(accumulator.add(ChatCompletionChunk(model: "m", delta: "a")) == "a")
        #expect(accumulator.add(ChatCompletionChunk(model: "other", delta: "é")) == "é")
        #expect(accumulator.text == "aé")
        #expect(accumulator.model == "m")
    }

    @Test func finishReasonAndUsageAreKept() {
        var accumulator = ChatStreamAccumulator()
        let usage = TokenUsage(promptTokens: 1, completionTokens: 2, totalTokens: 3)
        _ = accumulator.add(ChatCompletionChunk(delta: "x", finishReason: "length"))
        _ = accumulator.add(ChatCompletionChunk(usage: usage))
        #expect(accumulator.response(defaultModel: "d") == ChatResponse(text: "x", model: "d", finishReason: "length", usage: usage))
    }

    @Test func withoutFinishReasonTheAnswerSaysStop() {
        var accumulator = ChatStreamAccumulator()
        _ = accumulator.add(ChatCompletionChunk(model: "", delta: "x"))
        #expect(accumulator.finishReason == nil)
        #expect(accumulator.response(defaultModel: "d") == ChatResponse(text: "x", model: "d", finishReason: "stop", usage: nil))
        #expect(ChatStreamAccumulator().response(defaultModel: "d") == ChatResponse(text: "", model: "d", finishReason: "stop", usage: nil))
    }
}
