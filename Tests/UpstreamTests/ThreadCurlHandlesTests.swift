import Foundation
import Testing
@testable import Upstream

struct ThreadCurlHandlesTests {
    /// A thread keeps one handle for all its calls, and the handle is cleaned up when the thread
    /// ends: workers that retire must not leave handles (and upstream sockets) behind.
    @Test func aThreadsHandleIsCleanedUpWhenTheThreadEnds() throws {
        let handles = ThreadCurlHandles()
        let threads = (0..<8).map { _ in
            Thread {
                let first = try? handles.handle()
                let second = try? handles.handle()
                #expect(first != nil && first == second)
            }
        }
        for thread in threads { thread.start() }
        let deadline = Date().addingTimeInterval(30)
        while !threads.allSatisfy(\.isFinished), Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        // A finished Thread has run its body; its key destructors run as the pthread exits.
        while handles.open.handles.withLock({ !$0.isEmpty }), Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(handles.open.handles.withLock { $0.isEmpty })
    }
}
