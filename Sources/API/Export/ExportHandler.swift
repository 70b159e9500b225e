#if canImport(Glibc)
import Glibc
#endif
import Auth
import FoundationEssentials
import HTTP
import JSON
import Platform
import Store

/// `GET /conversation/{id}/export?format=json|markdown` and `GET /conversations/export`: the
/// caller's conversations, one as JSON or Markdown, or all as JSON Lines.
public struct ExportHandler: Sendable {
    let store: any ConversationStore
    let verifier: any TokenVerifier
    /// The JSON Lines exports running in this process, each on a thread of its own.
    let running: Locked<Int>

    /// The most JSON Lines exports a process writes at once; one more is a 503.
    static let maxRunning = 8
    /// Conversations read from the store at once, for a line each.
    static let pageSize = 50
    /// A line waits while more than this is still on its way to the client: the channel drops
    /// a client past 1 MiB, and the export's memory stays bounded whatever it holds.
    static let maxPendingBytes = 256 << 10

    public init(store: any ConversationStore, verifier: any TokenVerifier) {
        self.store = store
        self.verifier = verifier
        running = Locked(0)
    }

    public func one(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        guard let id = request.parameters["conversation_id"], ConversationID.isWellFormed(id) else {
            throw HTTPError.conversationNotFound
        }
        let format = try request.queryParameter("format") ?? "json"
        guard format == "json" || format == "markdown" else { throw HTTPError.badRequest("format must be json or markdown") }
        guard let conversation = try store.conversation(id: id, owner: token.id) else { throw HTTPError.conversationNotFound }
        let messages = try store.messages(conversationID: id)
        if format == "markdown" {
            return Response(status: .ok, headers: [
                "Content-Type": "text/markdown; charset=utf-8", "Content-Disposition": "attachment; filename=\"conversation-\(id).md\"",
            ], body: .bytes(Array(ConversationExport.markdown(conversation, messages: messages).utf8)))
        }
        let versions = try ExportWriter.versions(of: id, messages: messages, in: store)
        return .json(.ok, ConversationExport.json(conversation, messages: messages, versions: versions).serialized, headers: [
            "Content-Disposition": "attachment; filename=\"conversation-\(id).json\"",
        ])
    }

    /// The first page is read here, so that a store failure is still a plain error response;
    /// the rest on a thread of the export's own, page by page, each line written as it is made.
    /// A store failure after the head went out ends the body with a line `{"error": ...}`.
    public func all(_ request: Request) throws -> Response {
        let token = try verifier.caller(of: request)
        let first = try store.conversations(owner: token.id, limit: Self.pageSize, after: nil)
        let admitted = running.withLock { count in
            guard count < Self.maxRunning else { return false }
            count += 1
            return true
        }
        guard admitted else { throw HTTPError(.serviceUnavailable, "too many exports are running; try again shortly", headers: ["Retry-After": "5"]) }
        let writer = ExportWriter(store: store, owner: token.id, pageSize: Self.pageSize, maxPendingBytes: Self.maxPendingBytes)
        let running = running
        return Response(body: .later { channel in
            do {
                try DetachedThread.start(name: "askd-export") {
                    defer { running.withLock { $0 -= 1 } }
                    writer.write(first: first, to: channel)
                }
            } catch {
                running.withLock { $0 -= 1 }
                channel.fail(error)
            }
        })
    }
}

/// Writes one owner's conversations as JSON Lines, page by page, waiting for the client while
/// it lags behind.
struct ExportWriter: Sendable {
    let store: any ConversationStore
    let owner: String
    let pageSize: Int
    let maxPendingBytes: Int

    func write(first: [ConversationSummary], to channel: any ResponseChannel) {
        channel.begin(status: .ok, headers: [
            "Content-Type": "application/x-ndjson", "Content-Disposition": "attachment; filename=\"conversations.jsonl\"",
            "Cache-Control": "no-store",
        ])
        var page = first
        do {
            while !page.isEmpty {
                for summary in page {
                    let id = summary.conversation.id
                    let messages = try store.messages(conversationID: id)
                    let versions = try Self.versions(of: id, messages: messages, in: store)
                    var line = ConversationExport.json(summary.conversation, messages: messages, versions: versions).serialized
                    line.append(UInt8(ascii: "\n"))
                    guard waitForClient(channel) else {
                        // A client still reading learns that the body is not whole.
                        if !channel.clientIsGone { channel.write(Self.errorLine("askd is stopping; export again")) }
                        return channel.end()
                    }
                    guard channel.write(line) else { return channel.end() }
                }
                guard page.count == pageSize, let last = page.last?.conversation else { break }
                page = try store.conversations(owner: owner, limit: pageSize, after: ConversationCursor(createdAt: last.createdAt, id: last.id))
            }
        } catch {
            channel.write(Self.errorLine("the export stopped early: the store failed; export again"))
        }
        channel.end()
    }

    /// The last line of an export cut short: `{"error": "..."}`.
    static func errorLine(_ message: String) -> [UInt8] {
        JSONValue.object(["error": .string(message)]).serialized + [UInt8(ascii: "\n")]
    }

    /// The previous versions of `messages`, by sequence number.
    static func versions(of id: String, messages: [StoredMessage], in store: any ConversationStore) throws -> [Int: [MessageVersion]] {
        guard let first = messages.first, let last = messages.last else { return [:] }
        return try store.previousVersions(conversationID: id, sequences: first.sequence...last.sequence)
    }

    /// Waits while more than `maxPendingBytes` wait for the client; false once it is gone or
    /// the server must stop.
    private func waitForClient(_ channel: any ResponseChannel) -> Bool {
        while channel.pendingBytes > maxPendingBytes {
            if channel.clientIsGone || channel.mustEndNow { return false }
            usleep(2_000)
        }
        return !channel.mustEndNow
    }
}
