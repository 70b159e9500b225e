@testable import FastCGI
import Testing

struct IdleMemoryTests {
    /// Memory goes back once per quiet spell: after a second without a new request, and not
    /// again until requests have come and gone.
    @Test func givesBackOncePerQuietSecond() {
        var trims = 0
        var idle = IdleMemory(since: 0) { trims += 1 }
        idle.tick(requestsStarted: 0, inFlight: 0, now: 0.5)
        #expect(trims == 0, "a start is not a quiet second yet")
        idle.tick(requestsStarted: 0, inFlight: 0, now: 1.0)
        #expect(trims == 1, "start-up's garbage goes back after a quiet second")
        idle.tick(requestsStarted: 0, inFlight: 0, now: 5.0)
        #expect(trims == 1, "once per quiet spell")

        idle.tick(requestsStarted: 40, inFlight: 3, now: 6.0)
        idle.tick(requestsStarted: 90, inFlight: 0, now: 6.9)
        idle.tick(requestsStarted: 90, inFlight: 0, now: 7.5)
        #expect(trims == 1, "busy, then quiet for less than a second")
        idle.tick(requestsStarted: 90, inFlight: 0, now: 7.9)
        #expect(trims == 2)
        idle.tick(requestsStarted: 90, inFlight: 0, now: 8.0)
        #expect(trims == 2)

        // No new request, but answers still in flight (streams, deferred answers): not idle.
        idle.tick(requestsStarted: 91, inFlight: 1, now: 9.0)
        idle.tick(requestsStarted: 91, inFlight: 1, now: 12.0)
        #expect(trims == 2)
        idle.tick(requestsStarted: 91, inFlight: 0, now: 12.5)
        idle.tick(requestsStarted: 91, inFlight: 0, now: 12.9)
        #expect(trims == 2, "quiet for less than a second since the last tick with one in flight")
        idle.tick(requestsStarted: 91, inFlight: 0, now: 13.0)
        #expect(trims == 3)
    }
}
