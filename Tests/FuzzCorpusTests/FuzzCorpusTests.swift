import Foundation
import FuzzChecks
import Testing

/// Replays every saved fuzz input, seeds and past crashes alike, through its target's check,
/// without sanitizers: an invariant that breaks again traps this test process.
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../fuzz/corpus").standardized

    @Test(arguments: FuzzTarget.allCases)
    func replaysCorpus(_ target: FuzzTarget) throws {
        let folder = Self.corpus.appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(!names.isEmpty, "fuzz/corpus/\(target.rawValue) has no inputs")
        for name in names {
            target.check(Array(try Data(contentsOf: folder.appendingPathComponent(name))))
        }
    }
}
