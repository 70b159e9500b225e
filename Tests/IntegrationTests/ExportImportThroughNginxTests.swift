import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// `GET /conversation/{id}/export`, `GET /conversations/export` and `POST
    /// /conversations/import`, through nginx.
    @Suite struct ExportImportThroughNginx {
        private func headers(_ token: String, _ type: String = "application/json") -> [(String, String)] {
            [("Authorization", "Bearer \(token)"), ("Content-Type", type)]
        }

        private func ask(_ stack: Stack, _ token: String, _ prompt: String, in conversation: String? = nil) throws -> String {
            let id = conversation.map { #","conversation_id":"\#($0)""# } ?? ""
            let response = try stack.client.request("POST", "/ask", headers: headers(token), body: Array(#"{"prompt":"\#(prompt)"\#(id)}"#.utf8))
            #expect(response.status == 200)
            return try #require((try response.json()["response"] as? [String: Any])?["conversation_id"] as? String)
        }

        private func lines(_ text: String) -> [[String: Any]] {
            text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        }

        /// Lines without their conversation ids, to compare two exports.
        private func withoutIDs(_ text: String) -> [NSDictionary] {
            lines(text).map { line in
                var line = line
                line["id"] = nil
                return line as NSDictionary
            }
        }

        @Test func exportImportExportGivesTheSameConversationsAndEachTokenSeesOnlyItsOwn() throws {
            let stack = try Stack()
            let alice = try stack.createToken(name: "alice")
            let bob = try stack.createToken(name: "bob")
            let first = try ask(stack, alice, "first question")
            _ = try ask(stack, alice, "a follow-up", in: first)
            _ = try ask(stack, alice, "second conversation")
            let patched = try stack.client.request(
                "PATCH", "/conversation/\(first)", headers: headers(alice), body: Array(#"{"title":"Named","system":"be brief"}"#.utf8)
            )
            #expect(patched.status == 200)
            // A regenerated answer: the replaced one goes out and comes back as a previous version.
            let regenerated = try stack.client.request("POST", "/conversation/\(first)/regenerate", headers: headers(alice), body: Array("{}".utf8))
            #expect(regenerated.status == 200, "\(regenerated.text)")

            // One conversation, as JSON and as Markdown; another token's is unknown.
            let one = try stack.client.get("/conversation/\(first)/export", headers: headers(alice))
            #expect(one.status == 200)
            #expect(try one.json()["title"] as? String == "Named")
            #expect((try one.json()["messages"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [1, 2, 3, 4])
            let markdown = try stack.client.get("/conversation/\(first)/export?format=markdown", headers: headers(alice))
            #expect(markdown.status == 200)
            #expect(markdown.header("content-type") == "text/markdown; charset=utf-8")
            #expect(markdown.header("content-disposition") == "attachment; filename=\"conversation-\(first).md\"")
            #expect(markdown.text.hasPrefix("# Named\n"))
            #expect(try stack.client.get("/conversation/\(first)/export?format=pdf", headers: headers(alice)).status == 400)
            let foreign = try stack.client.get("/conversation/\(first)/export", headers: headers(bob))
            let unknown = try stack.client.get("/conversation/00000000-0000-7000-8000-000000000000/export", headers: headers(bob))
            #expect(foreign.status == 404 && unknown.status == 404)
            #expect(try foreign.json()["error"] as? String == (try unknown.json()["error"] as? String))

            // All of them, as JSON Lines; Bob has none.
            let exported = try stack.client.get("/conversations/export", headers: headers(alice))
            #expect(exported.status == 200)
            #expect(exported.header("content-type") == "application/x-ndjson")
            #expect(exported.header("transfer-encoding") == "chunked", "streamed, not sized up front")
            #expect(lines(exported.text).count == 2)
            let none = try stack.client.get("/conversations/export", headers: headers(bob))
            #expect(none.status == 200 && none.text.isEmpty)

            // Into Bob's token, with new ids, without counting in his usage.
            let imported = try stack.client.request("POST", "/conversations/import", headers: headers(bob, "application/x-ndjson"), body: exported.body)
            #expect(imported.status == 201, "\(imported.text)")
            let created = try #require(try imported.json()["conversations"] as? [[String: Any]])
            #expect(try imported.json()["imported"] as? Int == 2)
            #expect(Set(created.compactMap { $0["source_id"] as? String }) == Set(lines(exported.text).compactMap { $0["id"] as? String }))
            #expect(created.allSatisfy { ($0["id"] as? String) != ($0["source_id"] as? String) })
            let usage = try stack.client.get("/usage", headers: headers(bob)).json()
            #expect((usage["total"] as? [String: Any])?["requests"] as? Int == 0, "\(usage)")
            let again = try stack.client.get("/conversations/export", headers: headers(bob))
            #expect(withoutIDs(again.text) == withoutIDs(exported.text))
            let versions = lines(again.text).flatMap { ($0["messages"] as? [[String: Any]]) ?? [] }.flatMap { ($0["previous_versions"] as? [[String: Any]]) ?? [] }
            #expect(versions.count == 1, "the regenerated answer's previous version came along")
            #expect(lines(try stack.client.get("/conversations/export", headers: headers(alice)).text).count == 2, "Alice's are untouched")
            // Bob's copies are his: Alice cannot read them.
            let copy = try #require(created.first?["id"] as? String)
            #expect(try stack.client.get("/conversation/\(copy)", headers: headers(alice)).status == 404)
            #expect(try stack.client.get("/conversation/\(copy)", headers: headers(bob)).status == 200)

            // A bad line: 400 naming it, and nothing of the request is stored.
            let bad = exported.text + "{\"messages\": \"none\"}\n"
            let refused = try stack.client.request("POST", "/conversations/import", headers: headers(bob), body: Array(bad.utf8))
            #expect(refused.status == 400)
            #expect(try refused.json()["error"] as? String == "line 3: messages must be an array, not a string")
            #expect(lines(try stack.client.get("/conversations/export", headers: headers(bob)).text).count == 2)
            #expect(try stack.client.request("POST", "/conversations/import", body: exported.body).status == 401)
        }

        /// An import has its own limit, above the other bodies': a body over ASKD_MAX_BODY_BYTES
        /// imports, one over ASKD_MAX_IMPORT_BYTES is a JSON 413 (askd's just above the limit,
        /// nginx's far above it).
        @Test func importsHaveTheirOwnBodyLimit() throws {
            let stack = try Stack(environment: ["ASKD_MAX_BODY_BYTES": "10000", "ASKD_MAX_IMPORT_BYTES": "100000"])
            let token = try stack.createToken(name: "importer")
            let line = #"{"title":"big","messages":[{"role":"user","content":"\#(String(repeating: "x", count: 20_000))"}]}"# + "\n"
            let fits = try stack.client.request("POST", "/conversations/import", headers: headers(token), body: Array(String(repeating: line, count: 4).utf8))
            #expect(fits.status == 201, "\(fits.text)")
            #expect(try fits.json()["imported"] as? Int == 4)
            let over = try stack.client.request("POST", "/conversations/import", headers: headers(token), body: Array(String(repeating: line, count: 5).utf8))
            #expect(over.status == 413)
            #expect(try over.json()["error"] as? String == "request body is larger than the limit of 100000 bytes")
            let farOver = try stack.client.request("POST", "/conversations/import", headers: headers(token), body: Array(String(repeating: line, count: 10).utf8))
            #expect(farOver.status == 413)
            #expect(try farOver.json()["error"] is String)
            // Other paths keep the general limit.
            let patch = try stack.client.request("PATCH", "/conversation/x", headers: headers(token), body: Array(line.utf8))
            #expect(patch.status == 413)
            #expect(lines(try stack.client.get("/conversations/export", headers: headers(token)).text).count == 4)
        }

        /// A 16 MB import is parsed as it is read: askd never holds the body whole besides its
        /// parse, so its resident memory grows by less than twice the body (a body read whole,
        /// then parsed, took 2.2 times).
        @Test func aLargeImportIsParsedAsItIsRead() throws {
            let stack = try Stack()
            let token = try stack.createToken(name: "importer")
            let content = String(repeating: "word ", count: 800)
            let line = #"{"created_at":"2026-01-02T03:04:05.678Z","messages":["#
                + (0..<4).map { #"{"role":"\#($0 % 2 == 0 ? "user" : "assistant")","content":"\#($0) \#(content)"}"# }.joined(separator: ",") + "]}\n"
            let body = Array(String(repeating: line, count: 1_000).utf8)
            sleep(2)
            let (before, peak, imported) = try peakResident(of: stack.askd.pid) {
                try stack.client.request("POST", "/conversations/import", headers: headers(token), body: body)
            }
            #expect(imported.status == 201, "\(imported.text.prefix(300))")
            #expect(try imported.json()["imported"] as? Int == 1_000)
            let growth = peak - before
            print("import of \(body.count) bytes: askd's resident memory \(before) kB before, peak \(peak) kB (+\(growth) kB)")
            #expect(growth < body.count / 1024 * 2, "askd grew by \(growth) kB for a \(body.count / 1024) kB import")
        }

        /// 2,000 conversations of 16 KB each (32 MB as JSON Lines) export while askd's resident
        /// memory grows by far less than the body: each line goes out as it is read.
        @Test func aLargeExportIsStreamedInBoundedMemory() throws {
            let stack = try Stack()
            let token = try stack.createToken(name: "hoarder")
            let content = String(repeating: "word ", count: 800)
            let line = #"{"created_at":"2026-01-02T03:04:05.678Z","messages":["#
                + (0..<4).map { #"{"role":"\#($0 % 2 == 0 ? "user" : "assistant")","content":"\#($0) \#(content)"}"# }.joined(separator: ",") + "]}\n"
            let batch = Array(String(repeating: line, count: 250).utf8)
            for _ in 0..<8 {
                let imported = try stack.client.request("POST", "/conversations/import", headers: headers(token), body: batch)
                try #require(imported.status == 201, "\(imported.text.prefix(300))")
            }
            // Let askd give back what the imports freed (it trims after a second without requests).
            sleep(2)
            let (before, peak, exported) = try peakResident(of: stack.askd.pid) {
                try stack.client.get("/conversations/export", headers: headers(token))
            }
            #expect(exported.status == 200)
            let count = exported.body.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            #expect(count == 2_000)
            let growth = peak - before
            print("export of \(exported.body.count) bytes: askd's resident memory \(before) kB before, peak \(peak) kB (+\(growth) kB)")
            #expect(growth < exported.body.count / 1024 / 4, "askd grew by \(growth) kB for a \(exported.body.count / 1024) kB export")
        }
    }
}

/// `pid`'s VmRSS before `body` and its peak while `body` runs (sampled every 2 ms), in kB.
func peakResident<T>(of pid: pid_t, during body: () throws -> T) throws -> (before: Int, peak: Int, result: T) {
    let before = try #require(residentKilobytes(pid))
    let peak = Shared(before)
    let done = Shared(false)
    let sampler = Thread {
        while !done.value {
            if let now = residentKilobytes(pid), now > peak.value { peak.value = now }
            usleep(2_000)
        }
    }
    sampler.start()
    defer { done.value = true }
    let result = try body()
    return (before, peak.value, result)
}

/// VmRSS of `pid`, in kB.
func residentKilobytes(_ pid: pid_t) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
    return Int(line.split(separator: " ").dropFirst().first ?? "")
}
