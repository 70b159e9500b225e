import Testing

@testable import Telemetry

struct ProcessStatusTests {
    @Test func parsesTheFieldsAfterTheCommandName() throws {
        // A command name with spaces and a parenthesis, as proc(5) allows.
        let stat = "4242 (ask d) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 150 0 0 20 0 7 0 12345 104857600 2560 18446744073709551615"
        let status = try #require(
            ProcessStatus.parse(stat: stat, bootTime: 1_700_000_000, ticksPerSecond: 100, pageSize: 4096, openFDs: 12, maxFDs: 1024)
        )
        #expect(status.cpuSeconds == 4)
        #expect(status.threads == 7)
        #expect(status.startTimeSeconds == 1_700_000_123.45)
        #expect(status.virtualBytes == 104_857_600)
        #expect(status.residentBytes == 2560 * 4096)
        #expect(status.openFDs == 12)
    }

    @Test func readsBootTime() {
        #expect(ProcessStatus.bootTime("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n") == 1_700_000_000)
        #expect(ProcessStatus.bootTime("cpu  1 2 3\n") == nil)
    }

    @Test func readsThisProcess() throws {
        let status = try #require(ProcessStatus.current())
        #expect(status.residentBytes > 1_000_000)
        #expect(status.threads >= 1)
        #expect(status.openFDs >= 3)
        #expect(status.maxFDs >= 64)
    }
}
