// The real crash test: a child process (`apus debug crash-writer`) writes synced batches and
// prints an acknowledgement after each; this test kills it with SIGKILL after a seeded, random
// number of acknowledgements, reopens the directory in-process and checks that every
// acknowledged batch is present and whole, and that no batch is partly present. Several rounds
// continue in the same directory, so recovery also runs over recovered state. A failure prints
// the seed and the round; it means an acknowledged write was lost or a batch was torn.
import ApusCore
import Foundation
import Testing
@testable import ApusStorage

@Suite struct CrashProcessTests {
    static var apusBinary: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // `swift test` runs .build/<config>/<Package>PackageTests.xctest; `apus` sits beside it.
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let p = candidate.appendingPathComponent("apus").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return dir.appendingPathComponent("apus").path
    }

    @Test func killNineLosesNoAcknowledgedBatch() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["APUS_CRASH_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        var rng = TestRNG(seed: seed)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-crash-\(seed)-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(FileManager.default.isExecutableFile(atPath: Self.apusBinary), "build the apus executable first (swift build)")
        var next = 1
        for round in 0..<6 {
            let killAfter = 1 + rng.uniform(400)
            let acked = try runAndKill(dir: dir, start: next, killAfter: killAfter)
            let last = try verify(dir: dir, acked: acked, seed: seed, round: round)
            #expect(last >= acked, "seed \(seed) round \(round): acknowledged batch \(acked) lost (last whole batch \(last))")
            next = last + 1
        }
    }

    /// Starts the writer, waits for `killAfter` acknowledgements, kills it; returns the last ack.
    private func runAndKill(dir: String, start: Int, killAfter: Int) throws -> Int {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.apusBinary)
        p.arguments = ["debug", "crash-writer", "--dir", dir, "--start", String(start)]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var lastAck = start - 1
        var buffer = Data()
        var acks = 0
        reading: while acks < killAfter {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // the child died on its own: verification will tell why
            buffer.append(chunk)
            while let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...nl)
                if line.hasPrefix("ack "), let n = Int(line.dropFirst(4)) {
                    lastAck = n
                    acks += 1
                    if acks >= killAfter { break reading }
                }
            }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        return lastAck
    }

    /// Checks batch wholeness; returns the last batch recorded as committed.
    private func verify(dir: String, acked: Int, seed: UInt64, round: Int) throws -> Int {
        var o = StorageOptions()
        o.memtableBytesMax = 256 << 10
        o.tableBytesTarget = 128 << 10
        o.level1BytesMax = 512 << 10
        let engine = try StorageEngine.open(directory: dir, options: o)
        defer { try? engine.close() }
        guard let lastBytes = try engine.get(Array("last".utf8)) else {
            #expect(acked == 0, "seed \(seed) round \(round): nothing survived but batch \(acked) was acknowledged")
            return 0
        }
        let last = Int(String(decoding: lastBytes, as: UTF8.self)) ?? -1
        for i in max(1, last - 50)...(last + 3) {
            for j in 0..<8 {
                let v = try engine.get(Array("batch/\(i)/\(j)".utf8))
                let deletedLater = j == 0 && (i + 3) <= last && (i + 3) % 7 == 0
                if i <= last && !deletedLater {
                    #expect(v.map { $0.starts(with: Array(String(i).utf8)) } == true,
                            "seed \(seed) round \(round): batch \(i) key \(j) missing or wrong (last \(last))")
                } else if i > last {
                    #expect(v == nil, "seed \(seed) round \(round): batch \(i) partly present beyond last \(last)")
                }
            }
        }
        return last
    }
}

/// The tests' seeded generator; every randomized test prints its seed.
typealias TestRNG = SplitMix64

extension SplitMix64 {
    mutating func chance(_ p: Double) -> Bool { nextUnit() < p }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}
