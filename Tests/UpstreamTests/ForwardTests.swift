import Foundation
import JSON
import Store
import Testing
@testable import Upstream

/// Collects a forwarded stream's chunks.
private final class ChunkCollector: CompletionChunkSink, @unchecked Sendable {
    private let lock = NSLock()
    private var _chunks: [[String: JSONValue]] = []
    var leaveAfter: Int?
    var chunks: [[String: JSONValue]] { lock.withLock { _chunks } }
    var abandonedUsage: TokenUsage?

    func deliver(_ chunk: CompletionChunk) throws {
        try lock.withLock {
            if let leaveAfter, _chunks.count >= leaveAfter { throw CancellationError() }
            #expect((try? JSONParser.parse(chunk.bytes, maxDepth: 64))?.object == chunk.fields, "the bytes and the fields agree")
            _chunks.append(chunk.fields)
        }
    }

    func idle() throws {}

    func abandoned(usage: TokenUsage) {
        lock.withLock { abandonedUsage = usage }
    }
}

private final class Outcome: @unchecked Sendable {
    let lock = NSLock()
    let done = DispatchSemaphore(value: 0)
    var result: Result<ForwardedAnswer, any Error>?
}

struct ForwardTests {
    private func request(_ body: String) throws -> ForwardedRequest {
        ForwardedRequest(body: Array(body.utf8), fields: try #require(try JSONParser.parse(Array(body.utf8), maxDepth: 16).object))
    }

    private func forward(_ echo: EchoProvider, _ request: ForwardedRequest, to sink: ChunkCollector?) -> Result<ForwardedAnswer, any Error> {
        let outcome = Outcome()
        echo.forward(request, streamingTo: sink) { result in
            outcome.lock.withLock { outcome.result = result }
            outcome.done.signal()
        }
        outcome.done.wait()
        return outcome.lock.withLock { outcome.result! }
    }

    @Test func theEchoProvidersAnswerHasEveryFieldOfAChatCompletion() throws {
        let answer = try forward(EchoProvider(), try request(#"{"model":"echo","n":2,"messages":[{"role":"user","content":[{"type":"text","text":"hi there"},{"type":"image_url","image_url":{"url":"data:,"}}]}]}"#), to: nil).get()
        let fields = try #require(try JSONParser.parse(answer.body, maxDepth: 16).object)
        #expect(fields == answer.fields)
        #expect(fields["object"] == .string("chat.completion") && fields["model"] == .string("echo") && fields["created"]?.integer != nil)
        #expect(fields["id"]?.string?.hasPrefix("chatcmpl-") == true)
        let choices = try #require(fields["choices"]?.array)
        #expect(choices.map { $0["index"] } == [.number(0), .number(1)])
        #expect(choices[0]["message"]?["content"] == .string("[echo provider] You said: hi there [image]"))
        #expect(choices[0]["finish_reason"] == .string("stop"))
        #expect(fields["usage"]?["total_tokens"]?.integer == answer.usage.totalTokens)
    }

    @Test func theEchoProvidersStreamHasOneHeadARoleChunkAFinishAndUsageWhenAsked() throws {
        for includeUsage in [false, true] {
            let sink = ChunkCollector()
            let options = includeUsage ? #","stream_options":{"include_usage":true}"# : ""
            _ = try forward(EchoProvider(wordDelayMilliseconds: 1), try request(#"{"model":"echo","stream":true\#(options),"messages":[{"role":"user","content":"one two"}]}"#), to: sink).get()
            let chunks = sink.chunks
            #expect(Set(chunks.map { $0["id"]?.string ?? "" }).count == 1 && chunks.allSatisfy { $0["object"] == .string("chat.completion.chunk") })
            #expect(chunks.first?["choices"]?.array?.first?["delta"]?["role"] == .string("assistant"))
            let text = chunks.compactMap { $0["choices"]?.array?.first?["delta"]?["content"]?.string }.joined()
            #expect(text == "[echo provider] You said: one two")
            let usage = chunks.filter { ($0["usage"] ?? .null) != .null }
            #expect(usage.count == (includeUsage ? 1 : 0))
            if includeUsage { #expect(usage.first?["choices"] == .array([]) && chunks.last == usage.first) }
            #expect(chunks.contains { $0["choices"]?.array?.first?["finish_reason"] == .string("stop") })
        }
    }

    @Test func anEchoStreamLeftMidwayTellsTheUsageSoFar() throws {
        let sink = ChunkCollector()
        sink.leaveAfter = 3
        let result = forward(EchoProvider(wordDelayMilliseconds: 0), try request(#"{"model":"echo","stream":true,"messages":[{"role":"user","content":"a b c d"}]}"#), to: sink)
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(sink.abandonedUsage?.completionTokens == 2, "the role chunk and two words went out")
        #expect(sink.abandonedUsage?.promptTokens == 4)
    }

    @Test func aWholeCompletionReplaysAsTheChunksOfAStream() throws {
        let completion = try #require(try JSONParser.parse(Array(#"{"id":"c","created":5,"model":"m","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#.utf8), maxDepth: 16).object)
        let chunks = CompletionChunks.chunks(of: completion)
        #expect(chunks.count == 3)
        #expect(chunks.allSatisfy { $0["id"] == .string("c") && $0["object"] == .string("chat.completion.chunk") && $0["created"] == .number(5) })
        #expect(chunks[0]["choices"]?.array?.first?["delta"]?["tool_calls"]?.array?.first?["index"] == .number(0))
        #expect(chunks[1]["choices"]?.array?.first?["finish_reason"] == .string("tool_calls"))
        #expect(chunks[2]["choices"] == .array([]) && chunks[2]["usage"]?["total_tokens"] == .number(3))
    }

    @Test func onlyTheClientsOwnMistakesAreRejectionsItSees() {
        let body = Array(#"{"error":{"message":"bad","type":"invalid_request_error","param":"tools","code":"invalid_value"}}"#.utf8)
        #expect(UpstreamRejection.from(status: 400, body: body) == UpstreamRejection(status: 400, message: "bad", type: "invalid_request_error", param: "tools", code: "invalid_value"))
        #expect(UpstreamRejection.from(status: 404, body: body) == nil, "a 404 other than an unknown model is askd's wrong URL")
        #expect(UpstreamRejection.from(status: 404, body: Array(#"{"error":{"message":"no","code":"model_not_found"}}"#.utf8))?.status == 404)
        #expect(UpstreamRejection.from(status: 500, body: body) == nil)
        #expect(UpstreamRejection.from(status: 422, body: Array("not json".utf8))?.message == "the upstream refused the request (status 422)")
    }
}
