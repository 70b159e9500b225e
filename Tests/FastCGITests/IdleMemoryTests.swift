@testable import FastCGI
import Testing

struct IdleMemoryTests {
    /// Memory goes back once per quiet spell: after a second without a new request, and not
    /// again until requests have come and gone.
    @Test func givesBackOncePerQuietSecond() {
        var trims = 0
        var idle = IdleMemory(since: 0) { trims += 1 }
        idle.tick(requestsStarted: 0, now: 0.5)
        #expect(trims == 0, "a start is not a quiet second yet")
        idle.tick(requestsStarted: 0, now: 1.0)
        #expect(trims == 1, "start-up's garbage goes back after a quiet second")
        idle.tick(requestsStarted: 0, now: 5.0)
        #expect(trims == 1, "once per quiet spell")

        idle.tick(requestsStarted: 40, now: 6.0)
        idle.tick(requestsStarted: 90, now: 6.9)
        idle.tick(requestsStarted: 90, now: 7.5)
        #expect(trims == 1, "busy, then quiet for less than a second")
        idle.tick(requestsStarted: 90, now: 7.9)
        #expect(trims == 2)
        idle.tick(requestsStarted: 90, now: 8.0)
        #expect(trims == 2)
    }
}
