import FoundationEssentials
import Store
import Testing
@testable import Upstream

struct ChatCompletionChunkTests {
    @Test func roleOnlyChunkHasNoDelta() throws {
        #expect(try ChatCompletionChunk.decode(#"{"model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}"#) == ChatCompletionChunk(model: "m"))
        #expect(try ChatCompletionChunk.decode(#"{"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}"#) == ChatCompletionChunk(model: "m"))
        #expect(try ChatCompletionChunk.decode(OpenAIStreamFixture.payloads[0]) == ChatCompletionChunk(model: "gpt-4o-mini-2024-07-18", delta: ""))
    }

    @Test func contentChunk() throws {
        #expect(try ChatCompletionChunk.decode(OpenAIStreamFixture.payloads[3]) == ChatCompletionChunk(model: "gpt-4o-mini-2024-07-18", delta: " 🎉👩‍💻"))
        #expect(try ChatCompletionChunk.decode(OpenAIStreamFixture.payloads[4])?.delta == "\nSay \"data: hi\" ✓")
    }

    @Test func finishChunk() throws {
        #expect(try ChatCompletionChunk.decode(OpenAIStreamFixture.payloads[5]) == ChatCompletionChunk(model: "gpt-4o-mini-2024-07-18", finishReason: "stop"))
        #expect(try ChatCompletionChunk.decode(#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"length"}]}"#) == ChatCompletionChunk(delta: "x", finishReason: "length"))
    }

    @Test func usageChunk() throws {
        let usage = TokenUsage(promptTokens: 19, completionTokens: 11, totalTokens: 30)
        #expect(try ChatCompletionChunk.decode(OpenAIStreamFixture.payloads[6]) == ChatCompletionChunk(model: "gpt-4o-mini-2024-07-18", usage: usage))
        // A server that leaves out the total.
        #expect(try ChatCompletionChunk.decode(#"{"usage":{"prompt_tokens":2,"completion_tokens":3}}"#)?.usage == TokenUsage(promptTokens: 2, completionTokens: 3, totalTokens: 5))
    }

    /// Counts that cannot be true are left out, not stored: negative ones, and ones so large
    /// that adding them up would overflow (which would stop the process).
    @Test(arguments: [
        #"{"prompt_tokens":-5,"completion_tokens":3}"#,
        #"{"prompt_tokens":5,"completion_tokens":1099511627776}"#,
        #"{"prompt_tokens":9223372036854775807,"completion_tokens":1}"#,
        #"{"prompt_tokens":1,"completion_tokens":1,"total_tokens":-2}"#,
    ])
    func impossibleCountsAreLeftOut(usage: String) throws {
        #expect(try ChatCompletionChunk.decode(#"{"usage":\#(usage)}"#)?.usage == nil)
        let answer = #"{"model":"m","choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],"usage":\#(usage)}"#
        let parsed = try OpenAIClient.parse(Array(answer.utf8), endpoint: "test")
        #expect(parsed.text == "hi")
        #expect(parsed.usage == nil)
    }

    /// The log gets the error's message, not the whole body, which may echo the prompt.
    @Test func anErrorAnswerIsLoggedByItsMessage() {
        let openAI = #"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"},"request":{"messages":[{"content":"my secret prompt"}]}}"#
        #expect(OpenAIClient.errorText(of: Array(openAI.utf8)) == "message Incorrect API key provided, type invalid_request_error, code invalid_api_key")
        #expect(OpenAIClient.errorText(of: Array(#" {"error":"overloaded"}"#.utf8)) == "overloaded")
        #expect(OpenAIClient.errorText(of: Array(#"{"error":{"detail":"my secret prompt"}}"#.utf8)) == "(an error object without a message)")
        #expect(OpenAIClient.errorText(of: Array(#"{"echo":"my secret prompt"}"#.utf8)) == "(a JSON body without an error object)")
        #expect(OpenAIClient.errorText(of: Array("<html>Bad Gateway</html>".utf8)) == "<html>Bad Gateway</html>")
        #expect(OpenAIClient.errorText(of: Array(String(repeating: "x", count: 1000).utf8)).count == 300)
        let marks = "a" + String(repeating: "\u{0301}", count: 1000)
        #expect(OpenAIClient.errorText(of: Array(#"{"error":"\#(marks)"}"#.utf8)).unicodeScalars.count == 300)
    }

    @Test func plausibleCountsAreKept() throws {
        let answer = #"{"model":"m","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":0,"completion_tokens":2147483647}}"#
        #expect(try OpenAIClient.parse(Array(answer.utf8), endpoint: "test").usage == TokenUsage(promptTokens: 0, completionTokens: 2_147_483_647, totalTokens: 2_147_483_647))
    }

    @Test func chunksWithoutChoicesOrOfOtherChoicesCarryNoDelta() throws {
        #expect(try ChatCompletionChunk.decode(#"{"choices":[],"prompt_filter_results":[]}"#) == ChatCompletionChunk())
        #expect(try ChatCompletionChunk.decode("{}") == ChatCompletionChunk())
        #expect(try ChatCompletionChunk.decode(#"{"choices":[{"index":1,"delta":{"content":"b"}},{"index":0,"delta":{"content":"a"}}]}"#)?.delta == "a")
    }

    @Test func doneIsNil() throws {
        #expect(try ChatCompletionChunk.decode("[DONE]") == nil)
        #expect(try ChatCompletionChunk.decode(" [DONE]\n") == nil)
        #expect(ChatCompletionChunk.isDone("[DONE]"))
        #expect(!ChatCompletionChunk.isDone("[done]"))
        #expect(!ChatCompletionChunk.isDone(OpenAIStreamFixture.payloads[1]))
    }

    @Test func errorObjectThrowsTheUpstreamMessage() {
        #expect(throws: UpstreamError.failed(detail: "the upstream sent an error: The server had an error while processing your request.")) {
            try ChatCompletionChunk.decode(#"{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#)
        }
        #expect(throws: UpstreamError.failed(detail: "the upstream sent an error: overloaded")) {
            try ChatCompletionChunk.decode(#"{"error":"overloaded"}"#)
        }
        #expect(throws: UpstreamError.failed(detail: "the upstream sent an error: (no message)")) {
            try ChatCompletionChunk.decode(#"{"error":{"code":500}}"#)
        }
    }

    @Test func garbageThrows() {
        for data in ["", "hello", "{\"choices\":", "42", "[1]", #"{"choices":{"index":0}}"#] {
            #expect(throws: UpstreamError.failed(detail: "unreadable stream chunk: \(data)")) {
                try ChatCompletionChunk.decode(data)
            }
        }
    }

    @Test func aDecoderCanBeReused() throws {
        let decoder = JSONDecoder()
        let chunks = try OpenAIStreamFixture.payloads.map { try ChatCompletionChunk.decode($0, with: decoder) }
        #expect(chunks.compactMap { $0?.delta }.joined() == OpenAIStreamFixture.text)
        #expect(chunks.last == .some(nil))
    }
}
