// Raft state on the storage engine: what a group persists and syncs (entries, hard state,
// snapshots, truncated conflicting tails, compaction) is what a new process recovers after the
// engine is reopened, and what was written but not synced is lost by a crash of the file
// system without damaging what was synced. Expected values come from the operations the test made.
import ApusCore
import Testing
@testable import ApusRaft
@testable import ApusStorage

@Suite struct EngineRaftStorageTests {
    func options() -> StorageOptions {
        var o = StorageOptions()
        o.memtableBytesMax = 64 << 10
        o.compactionBytesPerSecondMax = nil
        return o
    }

    func entries(_ range: ClosedRange<UInt64>, term: UInt64) -> [Entry] {
        range.map { Entry(term: Term(term), index: LogIndex($0), data: Array("e\($0)t\(term)".utf8)) }
    }

    @Test func persistedStateSurvivesReopenAndCrash() throws {
        let fs = MemoryFileSystem()
        let m = Membership(voters: [1, 2, 3])
        var engine = try StorageEngine.open(directory: "/db", options: options(), fileSystem: fs)
        var s = try EngineRaftStorage(engine: engine, group: 7, membership: m)
        try s.append(entries(1...50, term: 1))
        try s.setHardState(HardState(term: 2, vote: 3, commit: 40))
        try s.sync()
        // A conflicting tail from a new leader replaces entries 45...50.
        try s.append(entries(45...48, term: 2))
        try s.sync()
        // Written but never synced: lost by the crash below.
        try s.append(entries(49...60, term: 2))
        engine.closeForCrashTest()
        fs.crash(mode: .dropUnsynced)
        engine = try StorageEngine.open(directory: "/db", options: options(), fileSystem: fs)
        s = try EngineRaftStorage(engine: engine, group: 7, membership: m)
        #expect(s.lastIndex == 48)
        #expect(s.term(at: 44) == 1 && s.term(at: 45) == 2)
        #expect(s.entries(from: 45, to: 49, bytesMax: .max) == entries(45...48, term: 2))
        #expect(s.initialState().0 == HardState(term: 2, vote: 3, commit: 40))
        // Another group in the same engine is independent.
        let other = try EngineRaftStorage(engine: engine, group: 8, membership: m)
        #expect(other.lastIndex == 0)
        try engine.close()
    }

    @Test func snapshotsAndCompactionPersist() throws {
        let fs = MemoryFileSystem()
        let m = Membership(voters: [1, 2, 3], learners: [4])
        var engine = try StorageEngine.open(directory: "/db", options: options(), fileSystem: fs)
        var s = try EngineRaftStorage(engine: engine, group: 1, membership: m)
        try s.append(entries(1...30, term: 3))
        try s.createSnapshot(at: 20, membership: m, data: Array("state@20".utf8))
        try s.compact(through: 20)
        try s.sync()
        try engine.close()
        engine = try StorageEngine.open(directory: "/db", options: options(), fileSystem: fs)
        s = try EngineRaftStorage(engine: engine, group: 1, membership: Membership(voters: [9]))
        #expect(s.snapshot().metadata.index == 20)
        #expect(s.snapshot().data == Array("state@20".utf8))
        #expect(s.snapshot().metadata.membership == m)
        #expect(s.firstIndex == 21 && s.lastIndex == 30)
        // A snapshot from the leader replaces the whole log.
        let incoming = Snapshot(metadata: SnapshotMetadata(index: 100, term: 5, membership: m), data: [1, 2, 3])
        try s.applySnapshot(incoming)
        try s.sync()
        try engine.close()
        engine = try StorageEngine.open(directory: "/db", options: options(), fileSystem: fs)
        s = try EngineRaftStorage(engine: engine, group: 1, membership: m)
        #expect(s.snapshot() == incoming)
        #expect(s.lastIndex == 100 && s.firstIndex == 101)
        try engine.close()
    }
}
