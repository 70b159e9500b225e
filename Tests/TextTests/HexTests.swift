import Testing
import Text

struct HexTests {
    @Test func bytesAreTwoLowerCaseDigitsEach() {
        #expect(Hex.encode([UInt8]()) == "")
        #expect(Hex.encode([0x00, 0x0F, 0xA5, 0xFF]) == "000fa5ff")
        #expect(Hex.encode(Array(0...255)) == (0...255).map { String(repeating: "0", count: $0 < 16 ? 1 : 0) + String($0, radix: 16) }.joined())
    }

    @Test func slicesAndCollectionsWithoutContiguousStorageEncodeAlike() {
        let bytes: [UInt8] = [0xDE, 0xAD, 0xBE, 0xEF, 0x01]
        #expect(Hex.encode(bytes[1..<4]) == "adbeef")
        #expect(Hex.encode(bytes.lazy.map { $0 }) == "deadbeef01")
        #expect(Hex.encode((0..<3).lazy.map { UInt8($0 * 100) }) == "0064c8")
    }

    @Test func integersAreSixteenDigitsMostSignificantFirst() {
        #expect(Hex.encode(UInt64(0)) == "0000000000000000")
        #expect(Hex.encode(UInt64(0x0123_4567_89AB_CDEF)) == "0123456789abcdef")
        #expect(Hex.encode(UInt64.max) == "ffffffffffffffff")
    }
}
