// Fault-injection tests of the WAL: a seeded workload of record groups, each followed by a sync,
// runs with append call N (then N+1, ...) failing, one-shot and persistent, with an I/O error,
// a full disk or a partial write, and likewise for sync call N, until the workload completes
// without a fault. After the first failure the writer must refuse further writes; then the file
// system crashes (torn, seeded by N) and recovery must succeed and return every acknowledged
// record (added, then synced without error) in order, followed only by a prefix of the records
// that were attempted: nothing else, nothing half-present. A second recovery after another crash
// must agree (the truncation was durable). The same invariants hold for torn crashes at random
// points of a workload without faults, and for a disk that fills up at many capacities.
// Failure messages name the seed and call number.
import Testing

@testable import ApusStorage

@Suite struct WALFaultTests {
    typealias S = WALTestSupport

    /// The workload: groups of random payloads; returns (acknowledged, attempted) records.
    private func runWorkload(fs: MemoryFileSystem, seed: UInt64, groups: Int = 12, finalSync: Bool = true)
        -> (acked: [[UInt8]], attempted: [[UInt8]], failed: Bool)
    {
        var r = FaultRandom(seed: seed)
        var acked: [[UInt8]] = []
        var attempted: [[UInt8]] = []
        do {
            let file = try fs.createFile(S.path(5))
            try fs.syncDirectory(S.dir)
            let w = LogWriter(file: file, logNumber: 5, path: S.path(5))
            var pending: [[UInt8]] = []
            for _ in 0..<groups {
                let group = (0..<Int(1 + r.next() % 4)).map { _ in S.randomPayload(&r, maxSize: 120) }
                attempted += group
                pending += group
                do {
                    if r.next() % 2 == 0 {
                        try w.addRecords(group)
                    } else {
                        for p in group { try w.addRecord(p) }
                    }
                    if r.next() % 3 != 0 {
                        try w.sync()
                        acked += pending
                        pending = []
                    }
                } catch {
                    // The writer is dead now: every further call must be refused.
                    #expect(throws: StorageError.self, "seed \(seed)") { try w.addRecord([1]) }
                    #expect(throws: StorageError.self, "seed \(seed)") { try w.sync() }
                    return (acked, attempted, true)
                }
            }
            if finalSync {
                try w.sync()
                acked += pending
            }
            return (acked, attempted, false)
        } catch {
            return (acked, attempted, true)
        }
    }

    private func check(rule: (Int) -> MemoryFileSystem.FaultRule, label: String) throws {
        var n = 1
        while true {
            let seed = UInt64(1000 + n)
            let fs = MemoryFileSystem()
            try fs.createDirectory(S.dir)
            fs.injectFault(rule(n))
            let (acked, attempted, failed) = runWorkload(fs: fs, seed: seed)
            #expect(failed == (fs.faultsFired > 0), "\(label) call \(n) seed \(seed)")
            fs.simulateCrash(seed: seed)
            fs.clearFaults()
            let context = "\(label) call \(n) seed \(seed)"
            guard fs.exists(S.path(5)) else {
                #expect(acked.isEmpty, "\(context): segment vanished with acknowledged records")
                if !failed { break }
                n += 1
                continue
            }
            let (read, _) = try S.recover(fs, 5)
            #expect(read.count >= acked.count, "\(context): lost acknowledged records")
            #expect(read.count <= attempted.count, "\(context): more records than written")
            #expect(
                firstDifference(read, attempted) == nil,
                "\(context): recovered record differs from the one written")
            // Recovery's truncation is durable: a second crash and recovery agree.
            fs.simulateCrash(seed: seed &+ 1)
            let (again, second) = try S.recover(fs, 5)
            #expect(
                again.count == read.count && firstDifference(again, read) == nil && second.stop == nil,
                "\(context): second recovery differs")
            if !failed { break }
            n += 1
            precondition(n < 10_000, "fault loop must end")
        }
        #expect(n > 1, "\(label): no fault ever fired")
    }

    @Test(arguments: [MemoryFileSystem.Effect.ioError, .diskFull, .partialWrite(keepBytes: 7)])
    func appendFailsAtCallN(effect: MemoryFileSystem.Effect) throws {
        try check(
            rule: { .init(.append, path: .suffix(".log"), when: .nth($0), effect: effect) },
            label: "one-shot append \(effect)")
        try check(
            rule: { .init(.append, path: .suffix(".log"), when: .fromNth($0), effect: effect) },
            label: "persistent append \(effect)")
    }

    @Test func syncFailsAtCallN() throws {
        try check(rule: { .init(.sync, when: .nth($0)) }, label: "one-shot sync")
        try check(rule: { .init(.sync, when: .fromNth($0)) }, label: "persistent sync")
    }

    @Test func anyOperationFailsAtCallN() throws {
        try check(rule: { .init(.any, when: .nth($0)) }, label: "one-shot any")
    }

    @Test func crashAtRandomPointsKeepsAcknowledgedRecords() throws {
        var sawUnacknowledgedSurvivor = false
        for seed in UInt64(0)..<300 {
            let fs = MemoryFileSystem()
            try fs.createDirectory(S.dir)
            let (acked, attempted, failed) = runWorkload(
                fs: fs, seed: seed, groups: Int(1 + seed % 12), finalSync: false)
            #expect(!failed, "seed \(seed)")
            fs.simulateCrash(seed: seed)
            let (read, _) = try S.recover(fs, 5)
            #expect(read.count >= acked.count, "seed \(seed): lost acknowledged records")
            #expect(read.count <= attempted.count, "seed \(seed): more records than written")
            #expect(firstDifference(read, attempted) == nil, "seed \(seed): record differs")
            if read.count > acked.count { sawUnacknowledgedSurvivor = true }
        }
        // Torn crashes do keep some complete unsynced records, so that path is exercised.
        #expect(sawUnacknowledgedSurvivor)
    }

    @Test func diskFullByCapacity() throws {
        for capacity in stride(from: 0, through: 2000, by: 37) {
            let fs = MemoryFileSystem(capacityBytes: capacity)
            try fs.createDirectory(S.dir)
            let (acked, _, _) = runWorkload(fs: fs, seed: 77)
            fs.simulateCrash(seed: UInt64(capacity))
            fs.capacityBytes = nil
            guard fs.exists(S.path(5)) else { continue }
            let (read, _) = try S.recover(fs, 5)
            #expect(read.count >= acked.count, "capacity \(capacity): lost acknowledged records")
            #expect(firstDifference(read, acked) == nil, "capacity \(capacity): record differs")
        }
    }
}

/// The first index below both counts where `a` and `b` differ, nil if the common prefix agrees;
/// keeps failure messages short where comparing whole record lists would print megabytes.
func firstDifference(_ a: [[UInt8]], _ b: [[UInt8]]) -> Int? {
    zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset
}
