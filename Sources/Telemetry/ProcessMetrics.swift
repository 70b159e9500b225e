import CoreMetrics
import Platform

/// The standard `process_*` metrics, brought up to date from /proc at each scrape.
final class ProcessMetrics: Sendable {
    private let resident: Meter
    private let virtual: Meter
    private let cpu: FloatingPointCounter
    private let threads: Meter
    private let startTime: Meter
    private let openFDs: Meter
    private let maxFDs: Meter
    /// The CPU seconds counted so far: the counter only goes up, by the difference.
    private let cpuCounted = Locked<Double>(0)

    init(factory: any MetricsFactory) {
        resident = Meter(label: Instruments.processResidentMemory.name, factory: factory)
        virtual = Meter(label: Instruments.processVirtualMemory.name, factory: factory)
        cpu = FloatingPointCounter(label: Instruments.processCPUSeconds.name, factory: factory)
        threads = Meter(label: Instruments.processThreads.name, factory: factory)
        startTime = Meter(label: Instruments.processStartTime.name, factory: factory)
        openFDs = Meter(label: Instruments.processOpenFDs.name, factory: factory)
        maxFDs = Meter(label: Instruments.processMaxFDs.name, factory: factory)
    }

    func refresh() {
        guard let status = ProcessStatus.current() else { return }
        resident.set(status.residentBytes)
        virtual.set(status.virtualBytes)
        threads.set(status.threads)
        startTime.set(status.startTimeSeconds)
        openFDs.set(status.openFDs)
        maxFDs.set(status.maxFDs)
        cpuCounted.withLock { counted in
            if status.cpuSeconds > counted {
                cpu.increment(by: status.cpuSeconds - counted)
                counted = status.cpuSeconds
            }
        }
    }
}
