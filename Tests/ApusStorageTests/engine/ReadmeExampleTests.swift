// The README's storage-engine example, compiled and run, so that the documented API stays true.
import Foundation
import Testing
import ApusStorage

@Suite struct ReadmeExampleTests {
    @Test func readmeExampleRuns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-readme-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let engine = try StorageEngine.open(directory: dir)
        var batch = WriteBatch()
        batch.put(Array("user/1".utf8), Array("ada".utf8))
        batch.put(Array("user/2".utf8), Array("grace".utf8))
        try engine.write(batch)
        let name = try engine.get(Array("user/1".utf8))
        #expect(name == Array("ada".utf8))
        let it = try engine.makeIterator(IteratorOptions(prefix: Array("user/".utf8)))
        var seen: [String] = []
        try it.seekToFirst()
        while it.isValid { seen.append(String(decoding: it.value, as: UTF8.self)); try it.next() }
        #expect(seen == ["ada", "grace"])
        try engine.close()
    }
}
