import Foundation
import Testing

extension IntegrationTests {
    /// openapi.yaml against the real stack: Schemathesis (Tests/Support/openapi-contract) validates
    /// the document, then sends generated requests to every operation and fails on a server error
    /// or on a status, content type or body the document does not describe.
    @Suite struct OpenAPIContract {
        @Test func askdAnswersAsItsOpenAPIDocumentSays() throws {
            let stack = try Stack()
            let token = try stack.createToken(name: "openapi")
            // One conversation, so that the conversation endpoints have something to show.
            let asked = try stack.client.request(
                "POST", "/ask", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                body: Array(#"{"prompt":"What does the contract say?"}"#.utf8)
            )
            #expect(asked.status == 200)

            let script = Stack.repository.appendingPathComponent("Tests/Support/openapi-contract").path
            // A fresh machine installs Schemathesis first; later runs take well under a minute.
            let result = try Stack.run(script, ["http://127.0.0.1:\(stack.port)", token], timeout: 110)
            #expect(
                result.status == 0,
                "schemathesis found a mismatch (exit \(result.status)):\n\(result.stdout)\n\(result.stderr)\naskd log:\n\(stack.askdLog.suffix(4000))"
            )
        }
    }
}
