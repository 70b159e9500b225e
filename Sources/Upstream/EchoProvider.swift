#if canImport(Glibc)
import Glibc
#endif
import Store

/// The `echo` provider: answers offline and deterministically, for development and tests only.
/// It says what it is in every answer, so that nobody mistakes it for a model.
public struct EchoProvider: ChatCompletions {
    public let defaultModel = "echo"
    /// The pause before each word of a streamed answer, so that streaming shows.
    private let wordDelayMicroseconds: UInt32

    public init(wordDelayMilliseconds: Int = 40) {
        wordDelayMicroseconds = UInt32(max(0, wordDelayMilliseconds) * 1000)
    }

    public func complete(_ request: ChatRequest) throws -> ChatResponse {
        let prompt = request.messages.last(where: { $0.role == "user" })?.content ?? ""
        let earlier = request.messages.filter { $0.role != "system" }.count - 1
        let text = "[echo provider] You said: \(prompt)" + (earlier > 0 ? " (after \(earlier) earlier messages)" : "")
        let promptTokens = request.messages.reduce(0) { $0 + Self.wordCount($1.content) }
        let completionTokens = Self.wordCount(text)
        return ChatResponse(
            text: text, model: request.model, finishReason: "stop",
            usage: TokenUsage(promptTokens: promptTokens, completionTokens: completionTokens, totalTokens: promptTokens + completionTokens)
        )
    }

    /// The same answer as `complete`, word by word.
    public func stream(_ request: ChatRequest, to sink: any ChatStreamSink) throws -> ChatResponse {
        let answer = try complete(request)
        var sent = ""
        for piece in Self.pieces(of: answer.text) {
            if wordDelayMicroseconds > 0 { usleep(wordDelayMicroseconds) }
            do {
                try sink.deliver(String(piece))
            } catch {
                // As a model would have billed it: the whole prompt, and the words written so far.
                let written = Self.wordCount(sent)
                let usage = TokenUsage(
                    promptTokens: answer.usage?.promptTokens ?? 0, completionTokens: written,
                    totalTokens: (answer.usage?.promptTokens ?? 0) + written
                )
                sink.abandoned(after: ChatResponse(text: sent, model: answer.model, finishReason: "stop", usage: usage))
                throw error
            }
            sent += piece
        }
        return answer
    }

    /// `text` cut before each run of whitespace that follows a word: every piece is a word with
    /// the whitespace before it, and the pieces add up to the text.
    static func pieces(of text: String) -> [Substring] {
        var pieces: [Substring] = []
        var start = text.startIndex
        var previousIsSpace = true
        for index in text.indices {
            let isSpace = text[index].isWhitespace
            if isSpace && !previousIsSpace && index > start {
                pieces.append(text[start..<index])
                start = index
            }
            previousIsSpace = isSpace
        }
        if start < text.endIndex { pieces.append(text[start...]) }
        return pieces
    }

    /// Whitespace-separated words: a stand-in for a tokenizer.
    private static func wordCount(_ text: String) -> Int {
        var count = 0
        var inWord = false
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            // ASCII: the White_Space characters are tab to carriage return, and space.
            for byte in text.utf8 {
                let space = byte == 0x20 || (0x09...0x0D).contains(byte)
                if !space && !inWord { count += 1 }
                inWord = !space
            }
            return count
        }
        for scalar in text.unicodeScalars {
            let space = scalar.properties.isWhitespace
            if !space && !inWord { count += 1 }
            inWord = !space
        }
        return count
    }
}
