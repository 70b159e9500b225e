import Platform

/// The main thread's watch over requests being read: a request must arrive whole within the
/// read timeout from when its first bytes are read, however slowly a peer trickles it (each
/// read's own `SO_RCVTIMEO` bounds only the gaps). Looked at every 100 ms at most.
struct ReadDeadlines {
    private var lastLook = 0.0

    mutating func tick(_ slots: Locked<[WorkerSlot]>, limit: Double) {
        let now = MonotonicClock.now()
        guard now - lastLook >= 0.1 else { return }
        lastLook = now
        let watched = slots.withLock { $0 }
        for slot in watched { _ = slot.cutReading(after: limit, now: now) }
    }
}
