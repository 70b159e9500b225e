import Foundation
import Platform
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Clients asking `/ask` through nginx in a loop until stopped, plain and streamed, half of them
/// starting conversations and half continuing known ones, against the fake upstream: each
/// prompt is unique and makes the upstream take 50 to 300 ms. Every exchange is kept with what
/// its client saw.
final class AskLoad: Sendable {
    private let port: UInt16
    private let token: String
    private let tag: String
    /// The conversations the clients may continue; those they start join them.
    private let known: Locked<[String]>
    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Int>(0)
    private let done = Locked<[Exchange]>([])

    init(port: UInt16, token: String, tag: String, conversations: [String]) {
        self.port = port
        self.token = token
        self.tag = tag
        known = Locked(conversations)
    }

    /// Starts `clients` threads, each asking one request after another until `stop()`.
    func start(clients: Int) {
        running.store(clients, ordering: .sequentiallyConsistent)
        for client in 0..<clients {
            Thread { [self] in
                var sequence = 0
                while !stopping.load(ordering: .sequentiallyConsistent) {
                    sequence += 1
                    let exchange = ask(prompt: "\(tag)c\(client)n\(sequence)")
                    done.withLock { $0.append(exchange) }
                    if case .answered(let id, _) = exchange.outcome, exchange.continued == nil {
                        known.withLock { $0.append(id) }
                    }
                }
                running.subtract(1, ordering: .sequentiallyConsistent)
            }.start()
        }
    }

    /// Tells the clients to stop after their request in flight, and waits for them.
    func stop(within seconds: Double = 30) throws {
        stopping.store(true, ordering: .sequentiallyConsistent)
        try waitUntil("every load client finished its last request", seconds: seconds) {
            running.load(ordering: .sequentiallyConsistent) == 0
        }
    }

    var exchanges: [Exchange] { done.withLock { $0 } }

    /// One request: plain or streamed, new or continued, at random.
    private func ask(prompt name: String) -> Exchange {
        let continued = Bool.random() ? known.withLock { $0.randomElement() } : nil
        let streamed = Bool.random()
        let prompt: String
        if streamed {
            let pieces = Int.random(in: 3...6)
            prompt = "#drip \(pieces) \(Int.random(in: 50...300) / (pieces - 1)) \(name)"
        } else {
            prompt = "#slow \(Double(Int.random(in: 50...300)) / 1000) \(name)"
        }
        let body = #"{"prompt":"\#(prompt)""# + (continued.map { #","conversation_id":"\#($0)""# } ?? "")
            + (streamed ? #","stream":true}"# : "}")
        let outcome = streamed ? Self.streamed(port: port, token: token, body: body) : Self.plain(port: port, token: token, body: body)
        return Exchange(prompt: prompt, streamed: streamed, continued: continued, outcome: outcome)
    }

    static func plain(port: UInt16, token: String, body: String) -> Exchange.Outcome {
        do {
            let response = try HTTPClient(port: port).request(
                "POST", "/ask", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")], body: Array(body.utf8)
            )
            guard response.status == 200 else { return .failed(status: response.status, body: response.text) }
            guard let answer = (try? response.json())?["response"] as? [String: Any],
                let id = answer["conversation_id"] as? String, let text = answer["message"] as? String
            else { return .malformed(response.text) }
            return .answered(conversationID: id, text: text)
        } catch {
            return .cut("\(error)")
        }
    }

    static func streamed(port: UInt16, token: String, body: String) -> Exchange.Outcome {
        do {
            let stream = try EventStreamClient(port: port, token: token, body: body)
            defer { stream.close() }
            let head = try stream.head()
            let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            guard status == 200 else { return .failed(status: status, body: (try? stream.readRaw()) ?? "") }
            var deltas = ""
            while let event = try stream.next() {
                switch event.event {
                case nil:
                    deltas += event.json["delta"] as? String ?? ""
                case "done":
                    guard let answer = event.json["response"] as? [String: Any],
                        let id = answer["conversation_id"] as? String, let text = answer["message"] as? String, text == deltas
                    else { return .malformed("done event \(event.data) after deltas \(deltas)") }
                    return .answered(conversationID: id, text: text)
                case "error":
                    return .failed(status: event.json["status"] as? Int ?? 0, body: event.data)
                default:
                    return .malformed("event \(event.event ?? "") \(event.data)")
                }
            }
            return .cut("the stream ended without its done event")
        } catch {
            return .cut("\(error)")
        }
    }
}
