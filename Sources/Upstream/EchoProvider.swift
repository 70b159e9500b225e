import Dispatch
import Store

/// The `echo` provider: answers offline and deterministically, for development and tests only.
/// It says what it is in every answer, so that nobody mistakes it for a model.
public struct EchoProvider: ChatCompletions {
    public let defaultModel = "echo"
    /// The pause before each word of a streamed answer, so that streaming shows.
    let wordDelayMicroseconds: UInt32

    public init(wordDelayMilliseconds: Int = 40) {
        wordDelayMicroseconds = UInt32(max(0, wordDelayMilliseconds) * 1000)
    }

    public func ask(
        _ request: ChatRequest, streamingTo sink: (any ChatStreamSink)?,
        then completion: @escaping @Sendable (Result<ChatResponse, any Error>) -> Void
    ) {
        let answer = answer(to: request)
        guard let sink else {
            completion(.success(answer))
            return
        }
        let pieces = Self.pieces(of: answer.text).map(String.init)
        guard wordDelayMicroseconds > 0 else {
            for index in pieces.indices {
                guard deliver(pieces, index, of: answer, to: sink, then: completion) else { return }
            }
            completion(.success(answer))
            return
        }
        scheduleWord(0, of: pieces, answer: answer, sink: sink, then: completion)
    }

    /// The answer: what the user said last, marked as the echo provider's.
    private func answer(to request: ChatRequest) -> ChatResponse {
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

    /// The timer thread every echo stream's pauses share: a pause holds no thread.
    static let clock = DispatchQueue(label: "askd-echo")

    private func scheduleWord(
        _ index: Int, of pieces: [String], answer: ChatResponse, sink: any ChatStreamSink,
        then completion: @escaping @Sendable (Result<ChatResponse, any Error>) -> Void
    ) {
        Self.clock.asyncAfter(deadline: .now() + .microseconds(Int(wordDelayMicroseconds))) {
            guard index < pieces.count, deliver(pieces, index, of: answer, to: sink, then: completion) else {
                if index >= pieces.count { completion(.success(answer)) }
                return
            }
            if index + 1 == pieces.count {
                completion(.success(answer))
            } else {
                scheduleWord(index + 1, of: pieces, answer: answer, sink: sink, then: completion)
            }
        }
    }

    /// Sends piece `index`; false, with `completion` called, when the sink gave up.
    private func deliver(
        _ pieces: [String], _ index: Int, of answer: ChatResponse, to sink: any ChatStreamSink,
        then completion: @escaping @Sendable (Result<ChatResponse, any Error>) -> Void
    ) -> Bool {
        do {
            try sink.deliver(pieces[index])
            return true
        } catch {
            // As a model would have billed it: the whole prompt, and the words written so far.
            let sent = pieces[..<index].joined()
            let written = Self.wordCount(sent)
            let promptTokens = answer.usage?.promptTokens ?? 0
            let usage = TokenUsage(promptTokens: promptTokens, completionTokens: written, totalTokens: promptTokens + written)
            sink.abandoned(after: ChatResponse(text: sent, model: answer.model, finishReason: "stop", usage: usage))
            completion(.failure(error))
            return false
        }
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
    static func wordCount(_ text: String) -> Int {
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
