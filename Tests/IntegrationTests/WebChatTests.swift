import Foundation
import Testing

extension IntegrationTests {
    /// The web chat page (web/) in a real browser: Tests/Support/web-chat walks it in Debian's
    /// Chromium through the dev stack's nginx, against the fake upstream, and checks what
    /// Tests/Support/web_chat_walk.py lists (streaming, Stop, rename and delete, paging, XSS,
    /// 401, 429, 502, a network failure, CSP, time to messages, page weight, a shared conversation).
    @Suite struct WebChat {
        @Test func thePageWorksInChromium() throws {
            let upstream = try FakeOpenAI()
            let stack = try Stack(environment: [
                "ASKD_PROVIDER": "openai", "OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": "sk-upstream",
                "ASKD_MODEL": "test-model", "ASKD_MODELS": "test-model,test-model-large", "ASKD_UPSTREAM_TIMEOUT_SECONDS": "10",
            ])
            let token = try stack.createToken(name: "browser")
            // Screenshots (1280x800 and 375x812, light and dark) stay in the test's temporary
            // folder, which `make test` removes afterwards.
            let screenshots = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("web-chat-screenshots")
            try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)

            let script = Stack.repository.appendingPathComponent("Tests/Support/web-chat").path
            let result = try Stack.run(
                script,
                ["http://127.0.0.1:\(stack.port)", token, upstream.closedStreamsPath, stack.directory.appendingPathComponent("access.log").path, screenshots.path],
                timeout: 90
            )
            #expect(result.status == 0, "the walk failed (exit \(result.status)):\n\(result.stdout)\n\(result.stderr)\naskd log:\n\(stack.askdLog.suffix(3000))")
            print(result.stdout)
        }

        @Test func everyAssetVersionIsItsContentHash() throws {
            let check = try Stack.run(Stack.repository.appendingPathComponent("dev/web-versions").path, ["--check"])
            #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        }
    }
}
