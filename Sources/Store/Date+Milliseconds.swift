import FoundationEssentials

extension Date {
    /// The latest instant a store keeps: 9999-12-31T23:59:59.999Z, the last that RFC 3339 can write.
    public static let latestStored = Date(timeIntervalSince1970: 253_402_300_799.999)

    /// Milliseconds since 1970, the unit the stores keep, clamped to 0001-01-01 ... 9999-12-31:
    /// a date read from outside (a cursor, an import) can hold any Double, and a conversion of
    /// one beyond Int64's range would stop the process.
    public var milliseconds: Int64 {
        let value = (timeIntervalSince1970 * 1000).rounded()
        guard value.isFinite else { return value > 0 ? Self.latestMilliseconds : Self.earliestMilliseconds }
        return Int64(min(max(value, Double(Self.earliestMilliseconds)), Double(Self.latestMilliseconds)))
    }

    public init(milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    static let latestMilliseconds: Int64 = 253_402_300_799_999
    static let earliestMilliseconds: Int64 = -62_135_596_800_000
}
