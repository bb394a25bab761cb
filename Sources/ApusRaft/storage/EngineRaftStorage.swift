import ApusCore
import ApusStorage

/// Raft's persistent state (hard state, log, snapshot) in an `ApusStorage` engine.
///
/// ```
/// key                                             value
/// 0x00 "raft/" group (8 B, BE) "h"                HardState encoding
/// 0x00 "raft/" group (8 B, BE) "s"                snapshot: index, term, membership, data
/// 0x00 "raft/" group (8 B, BE) "l" index (8 B BE) Entry encoding
/// ```
/// Writes go into one pending `WriteBatch`; `sync()` commits it with `sync: true`, so the
/// storage engine's WAL is the log's durability (DESIGN.md: data is not synced twice) and one
/// Ready costs one engine commit (shared with other groups by group commit). Reads are served from
/// an in-memory mirror (`MemoryStorage`) rebuilt from the engine at open.
///
/// Concurrency: one owner (not `Sendable`), like every `RaftStorage`; the engine is thread-safe.
package final class EngineRaftStorage: RaftStorage {
    private let engine: StorageEngine
    private let prefix: [UInt8]
    private let memory: MemoryStorage
    private var pending = WriteBatch()

    /// Opens group `group`'s state in `engine`, recovering what an earlier process persisted.
    /// `membership` is the initial configuration, used when nothing was persisted yet.
    package init(engine: StorageEngine, group: UInt64, membership: Membership) throws(RaftError) {
        self.engine = engine
        var p: [UInt8] = [0] + Array("raft/".utf8)
        p.appendBigEndian64(group)
        prefix = p
        do {
            let snapshotBytes = try engine.get(prefix + [UInt8(ascii: "s")])
            let snap = try snapshotBytes.map { (b) throws(RaftError) in try Self.decodeSnapshot(b) }
            memory = MemoryStorage(membership: snap?.metadata.membership ?? membership)
            if let snap { try memory.applySnapshot(snap) }
            let logPrefix = prefix + [UInt8(ascii: "l")]
            let it = try engine.makeIterator(IteratorOptions(prefix: logPrefix))
            try it.seekToFirst()
            var entries: [Entry] = []
            while it.isValid {
                var r = ByteReader(it.value)
                let e = try Entry.decode(from: &r)
                entries.append(e)  // MemoryStorage skips entries the snapshot covers
                try it.next()
            }
            try memory.append(entries)
            if let hs = try engine.get(prefix + [UInt8(ascii: "h")]) {
                var r = ByteReader(hs)
                try memory.setHardState(try HardState.decode(from: &r))
            }
        } catch let e as RaftError {
            throw e
        } catch {
            throw RaftError(.io, "raft state of group \(group): \(error)")
        }
    }

    private func logKey(_ index: LogIndex) -> [UInt8] {
        var k = prefix
        k.append(UInt8(ascii: "l"))
        k.appendBigEndian64(index.rawValue)
        return k
    }

    package func initialState() -> (HardState, Membership) { memory.initialState() }
    package var firstIndex: LogIndex { memory.firstIndex }
    package var lastIndex: LogIndex { memory.lastIndex }
    package func term(at index: LogIndex) -> Term? { memory.term(at: index) }
    package func entries(from lower: LogIndex, to upper: LogIndex, bytesMax: Int) -> [Entry] {
        memory.entries(from: lower, to: upper, bytesMax: bytesMax)
    }
    package func snapshot() -> Snapshot { memory.snapshot() }

    package func append(_ entries: [Entry]) throws(RaftError) {
        guard let first = entries.first else { return }
        if first.index <= memory.lastIndex {
            // A conflicting tail is replaced: delete it in the same batch.
            pending.deleteRange(logKey(first.index), logKey(LogIndex(UInt64.max)))
        }
        try memory.append(entries)
        for e in entries where e.index > memory.snapshot().metadata.index {
            var v: [UInt8] = []
            e.encode(into: &v)
            pending.put(logKey(e.index), v)
        }
    }

    package func setHardState(_ state: HardState) throws(RaftError) {
        try memory.setHardState(state)
        pending.put(prefix + [UInt8(ascii: "h")], state.encoded())
    }

    package func applySnapshot(_ snapshot: Snapshot) throws(RaftError) {
        guard snapshot.metadata.index > memory.snapshot().metadata.index else { return }
        try memory.applySnapshot(snapshot)
        pending.deleteRange(logKey(LogIndex(0)), logKey(LogIndex(UInt64.max)))
        pending.put(prefix + [UInt8(ascii: "s")], Self.encodeSnapshot(snapshot))
    }

    package func sync() throws(RaftError) {
        guard !pending.isEmpty else { return }
        do {
            try engine.write(pending, sync: true)
        } catch {
            throw RaftError(.io, "raft log write: \(error)")
        }
        pending = WriteBatch()
    }

    package func createSnapshot(at index: LogIndex, membership: Membership, data: [UInt8]) throws(RaftError) {
        try memory.createSnapshot(at: index, membership: membership, data: data)
        pending.put(prefix + [UInt8(ascii: "s")], Self.encodeSnapshot(memory.snapshot()))
    }

    package func compact(through index: LogIndex) throws(RaftError) {
        try memory.compact(through: index)
        pending.deleteRange(logKey(LogIndex(0)), logKey(index + 1))
    }

    /// Persists a Ready in the order its contract requires (snapshot, entries, hard state), then syncs.
    package func persist(_ ready: Ready) throws(RaftError) {
        if let s = ready.snapshot { try applySnapshot(s) }
        try append(ready.entries)
        if let hs = ready.hardState { try setHardState(hs) }
        try sync()
    }

    static func encodeSnapshot(_ s: Snapshot) -> [UInt8] {
        var b: [UInt8] = []
        b.appendVarint(s.metadata.index.rawValue)
        b.appendVarint(s.metadata.term.rawValue)
        for list in [s.metadata.membership.voters, s.metadata.membership.outgoingVoters, s.metadata.membership.learners] {
            b.appendVarint(UInt64(list.count))
            for n in list { b.appendVarint(n.rawValue) }
        }
        b.appendLengthPrefixed(s.data)
        return b
    }

    static func decodeSnapshot(_ bytes: [UInt8]) throws(RaftError) -> Snapshot {
        var r = ByteReader(bytes)
        do {
            let index = LogIndex(try r.readVarint())
            let term = Term(try r.readVarint())
            var lists: [[NodeID]] = []
            for _ in 0..<3 {
                let n = try r.readLength(limit: 4096)
                var l: [NodeID] = []
                for _ in 0..<n { l.append(NodeID(try r.readVarint())) }
                lists.append(l)
            }
            let data = Array(try r.readLengthPrefixed())
            let m = Membership(voters: lists[0], outgoingVoters: lists[1], learners: lists[2])
            return Snapshot(metadata: SnapshotMetadata(index: index, term: term, membership: m), data: data)
        } catch {
            throw RaftError(.corrupt, "raft snapshot record: \(error)")
        }
    }
}
