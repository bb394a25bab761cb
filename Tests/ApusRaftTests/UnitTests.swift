// Unit tests of the pieces under the Raft core: the linearizability checker (it must reject
// non-linearizable histories, or the simulation proves nothing), quorum arithmetic against a
// naive count, the in-memory storage, byte formats, flow-control windows and configuration
// validation. Table-driven and property tests; each failure names its input or seed.
import ApusCore
import Testing

@testable import ApusRaft

@Suite struct LinearizabilityCheckerTests {
    func op(_ kind: HistoryOp.Kind, _ call: UInt64, _ ret: UInt64, key: UInt64 = 0, client: Int = 0) -> HistoryOp {
        HistoryOp(key: key, kind: kind, call: call, ret: ret, client: client)
    }

    @Test func acceptsSequentialHistory() {
        let h = [op(.write(1), 0, 1), op(.read(1), 2, 3), op(.write(2), 4, 5), op(.read(2), 6, 7)]
        #expect(Linearizability.check(h) == .ok)
    }

    @Test func acceptsConcurrentReorder() {
        // The read overlaps the write, so it may see either value.
        let h = [op(.write(1), 0, 10), op(.read(1), 2, 3, client: 1), op(.read(0), 1, 4, client: 2)]
        #expect(Linearizability.check(h) == .ok)
    }

    @Test func rejectsStaleRead() {
        // write(1) completed before the read began, yet the read saw the initial value.
        let h = [op(.write(1), 0, 1), op(.read(0), 2, 3, client: 1)]
        #expect(Linearizability.check(h) == .violation(key: 0))
    }

    @Test func rejectsReadOfValueNeverWritten() {
        #expect(Linearizability.check([op(.read(5), 0, 1)]) == .violation(key: 0))
    }

    @Test func rejectsNonMonotonicReads() {
        // Two sequential reads during one long write: the first sees the new value, the second the
        // old one. Each alone is fine; together they are not linearizable.
        let h = [op(.write(1), 0, 100), op(.read(1), 10, 20, client: 1), op(.read(0), 30, 40, client: 1)]
        #expect(Linearizability.check(h) == .violation(key: 0))
    }

    @Test func rejectsLostAcknowledgedWrite() {
        let h = [
            op(.write(1), 0, 1), op(.write(2), 2, 3, client: 1), op(.read(1), 4, 5, client: 2),
        ]
        #expect(Linearizability.check(h) == .violation(key: 0))
    }

    @Test func pendingWriteMayTakeEffectLate() {
        // A write with unknown outcome may be linearized at any point after its call.
        let h = [op(.write(1), 0, UInt64.max), op(.read(0), 5, 6, client: 1), op(.read(1), 7, 8, client: 1)]
        #expect(Linearizability.check(h) == .ok)
    }

    @Test func keysAreIndependent() {
        let h = [op(.write(1), 0, 1, key: 1), op(.read(0), 2, 3, key: 2), op(.read(1), 4, 5, key: 1)]
        #expect(Linearizability.check(h) == .ok)
        let bad = h + [op(.read(0), 6, 7, key: 1)]
        #expect(Linearizability.check(bad) == .violation(key: 1))
    }

    /// A larger random history produced by a real register with concurrent clients is accepted;
    /// corrupting one read to a value never written is rejected.
    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func randomRegisterHistories(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var value: UInt64 = 0
        var ops: [HistoryOp] = []
        var time: UInt64 = 0
        for i in 0..<200 {
            let call = time
            time += 1 + rng.next() % 3
            // The operation takes effect at `time`, inside [call, ret].
            let kind: HistoryOp.Kind
            if rng.next() % 2 == 0 {
                value = UInt64(i + 1)
                kind = .write(value)
            } else {
                kind = .read(value)
            }
            let ret = time + rng.next() % 5
            ops.append(HistoryOp(key: 0, kind: kind, call: call, ret: ret, client: i % 4))
        }
        #expect(Linearizability.check(ops) == .ok, "seed \(seed)")
        if let k = ops.firstIndex(where: { if case .read = $0.kind { return true } else { return false } }) {
            ops[k].kind = .read(999_999)
            #expect(Linearizability.check(ops) == .violation(key: 0), "seed \(seed)")
        }
    }
}

@Suite struct QuorumTests {
    /// The sorted-median commit index equals the largest value that a majority has reached,
    /// computed naively, for random match indexes and voter counts.
    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func majorityMatchesNaive(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<200 {
            let n = 1 + Int(rng.next() % 7)
            let voters = (1...n).map { NodeID(UInt64($0)) }
            var match: [NodeID: UInt64] = [:]
            for v in voters { match[v] = rng.next() % 20 }
            let fast = Quorum.majorityValue(voters) { match[$0] ?? 0 }
            let naive: UInt64 =
                (UInt64(0)...20).reversed().first { c in voters.filter { (match[$0] ?? 0) >= c }.count > n / 2 } ?? 0
            #expect(fast == naive, "seed \(seed) matches \(voters.map { match[$0] ?? 0 })")
        }
    }

    @Test func jointNeedsBothMajorities() {
        let m = Membership(voters: [1, 2, 3], outgoingVoters: [3, 4, 5])
        let match: [NodeID: UInt64] = [1: 9, 2: 9, 3: 5, 4: 1, 5: 1]
        #expect(Quorum.jointValue(m) { match[$0] ?? 0 } == 1)
        #expect(Quorum.jointVoteResult(m, [1: true, 2: true]) == .pending)
        #expect(Quorum.jointVoteResult(m, [1: true, 2: true, 3: true]) == .pending)
        #expect(Quorum.jointVoteResult(m, [1: true, 2: true, 4: true, 5: true]) == .won)
        #expect(Quorum.jointVoteResult(m, [1: true, 4: false, 5: false]) == .lost)
    }

    @Test func membershipChangesValidate() {
        let m = Membership(voters: [1, 2, 3])
        let joint = m.applying(ConfChange([.addVoter(4), .remove(1), .addLearner(5)]))
        #expect(joint?.voters == [2, 3, 4])
        #expect(joint?.outgoingVoters == [1, 2, 3])
        #expect(joint?.learners == [5])
        #expect(joint?.applying(ConfChange([.addVoter(6)])) == nil, "enter joint while joint")
        #expect(m.applying(.leaveJoint) == nil, "leave while not joint")
        #expect(m.applying(ConfChange([.remove(1), .remove(2), .remove(3)])) == nil, "no voters left")
        #expect(joint?.applying(.leaveJoint) == Membership(voters: [2, 3, 4], learners: [5]))
    }
}

@Suite struct StorageAndFormatTests {
    @Test func memoryStorageAppendTruncateCompact() throws {
        let s = MemoryStorage(membership: Membership(voters: [1]))
        try s.append((1...5).map { Entry(term: 1, index: LogIndex(UInt64($0))) })
        try s.append([Entry(term: 2, index: 4)])
        #expect(s.lastIndex == 4)
        #expect(s.term(at: 4) == 2)
        #expect(throws: RaftError.self) { try s.append([Entry(term: 2, index: 9)]) }
        try s.createSnapshot(at: 3, membership: Membership(voters: [1]), data: [7])
        try s.compact(through: 2)
        #expect(s.firstIndex == 3)
        #expect(s.term(at: 2) == 1)
        #expect(s.term(at: 1) == nil)
        #expect(throws: RaftError.self) { try s.compact(through: 4) }
        #expect(s.entries(from: 3, to: 5, bytesMax: 1).count == 1, "byte bound still returns one entry")
        #expect(s.entries(from: 3, to: 5, bytesMax: 1 << 20).map(\.index) == [3, 4])
    }

    @Test func entryAndHardStateRoundTrip() throws {
        let entries = [
            Entry(term: 3, index: 17, kind: .normal, data: Array("hello".utf8)),
            Entry(term: 4, index: 18, kind: .confChange, data: ConfChange([.addVoter(9), .remove(2)]).encoded()),
            Entry(term: 1, index: 1),
        ]
        var b: [UInt8] = []
        for e in entries { e.encode(into: &b) }
        var r = ByteReader(b)
        for e in entries { #expect(try Entry.decode(from: &r) == e) }
        #expect(r.isAtEnd)
        let hs = HardState(term: 7, vote: 3, commit: 99)
        var hr = ByteReader(hs.encoded())
        #expect(try HardState.decode(from: &hr) == hs)
        #expect(ConfChange(decoding: ConfChange([.addLearner(5)]).encoded()) == ConfChange([.addLearner(5)]))
    }

    @Test(arguments: [[UInt8](), [1], [1, 1], [1, 9, 1], [1, 1, 0], [0xFF]])
    func malformedConfChangeIsRejected(bytes: [UInt8]) {
        #expect(ConfChange(decoding: bytes) == nil)
    }

    @Test func truncatedEntryThrows() {
        var b: [UInt8] = []
        Entry(term: 3, index: 17, data: [1, 2, 3]).encode(into: &b)
        b.removeLast()
        var r = ByteReader(b)
        #expect(throws: RaftError.self) { try Entry.decode(from: &r) }
    }

    @Test func inflightsBoundCountAndBytes() {
        var f = Inflights(messagesMax: 3, bytesMax: 100)
        f.add(last: 1, bytes: 10)
        f.add(last: 2, bytes: 10)
        #expect(!f.isFull)
        f.add(last: 3, bytes: 10)
        #expect(f.isFull)
        f.free(through: 2)
        #expect(f.count == 1 && f.bytes == 10 && !f.isFull)
        f.add(last: 4, bytes: 95)
        #expect(f.isFull, "byte bound")
        f.freeFirst()
        #expect(f.count == 1 && f.bytes == 95)
    }

    @Test func configValidation() {
        var c = RaftConfig()
        #expect(throws: Never.self) { try c.validate() }
        c.heartbeatTicks = c.electionTimeoutTicks
        #expect(throws: RaftError.self) { try c.validate() }
        c = RaftConfig()
        c.readMode = .lease(clockDriftMax: 0.1)
        c.checkQuorum = false
        #expect(throws: RaftError.self) { try c.validate() }
        c.checkQuorum = true
        #expect(c.leaseTicks == 8)
    }
}

@Suite struct NodeTests {
    /// A single voter elects itself and commits a batch of proposals once it has persisted them.
    @Test func singleNodeCommitsAfterPersisting() throws {
        let storage = MemoryStorage(membership: Membership(voters: [1]))
        let node = try RaftNode(id: 1, storage: storage, config: RaftConfig(), randomSeed: 1)
        node.campaign()
        #expect(node.role == .leader)
        try node.propose([[1], [2], [3]])
        var rd = node.ready()
        #expect(rd.entries.map(\.index) == [1, 2, 3, 4])
        #expect(rd.committedEntries.isEmpty, "nothing commits before it is durable")
        try storage.append(rd.entries)
        node.advance(rd)
        rd = node.ready()
        #expect(rd.committedEntries.map(\.index) == [1, 2, 3, 4])
        node.advance(rd)
        #expect(node.appliedIndex == 4)
        #expect(!node.hasReady)
    }

    /// Proposals are batched into append messages up to `messageBytesMax`, and the leader stops
    /// sending at `inflightMessagesMax` until acknowledgements arrive (back-pressure).
    @Test func flowControlBoundsInflightAppends() throws {
        var config = RaftConfig()
        config.messageBytesMax = 100
        config.inflightMessagesMax = 2
        let storage = MemoryStorage(membership: Membership(voters: [1, 2]))
        let node = try RaftNode(id: 1, storage: storage, config: config, randomSeed: 1)
        node.campaign()
        var rd = node.ready()
        let vote = rd.messages.first { $0.kind == .preVote }
        #expect(vote != nil)
        node.advance(rd)
        var grant = Message(kind: .preVoteResponse, from: 2, to: 1, term: 1)
        node.step(grant)
        rd = node.ready()
        try storage.setHardState(rd.hardState ?? HardState())
        node.advance(rd)
        grant.kind = .voteResponse
        node.step(grant)
        #expect(node.role == .leader)
        rd = node.ready()
        try storage.append(rd.entries)
        node.advance(rd)
        // Follower acknowledges the empty entry, moving it to pipelined replication.
        var ack = Message(kind: .appendResponse, from: 2, to: 1, term: 1)
        ack.index = 1
        node.step(ack)
        _ = node.ready().messages
        node.advance(
            Ready(hardState: nil, snapshot: nil, entries: [], messages: [], committedEntries: [], readStates: []))
        try node.propose((0..<20).map { _ in [UInt8](repeating: 7, count: 40) })
        rd = node.ready()
        let appends = rd.messages.filter { $0.kind == .append }
        #expect(appends.count == 2, "window of 2 messages")
        #expect(appends.allSatisfy { $0.entries.count == 1 }, "64-byte entries, 100-byte messages: one per message")
        try storage.append(rd.entries)
        node.advance(rd)
        ack.index = appends[0].entries.last?.index ?? 0
        node.step(ack)
        #expect(node.ready().messages.filter { $0.kind == .append }.count == 1, "one slot freed, one more append")
    }
}

@Suite struct MessageCodecTests {
    static let samples: [Message] = {
        var a = Message(kind: .append, from: 1, to: 2, term: 7)
        a.index = 10
        a.logTerm = 6
        a.commit = 9
        a.entries = [Entry(term: 7, index: 11, data: [1, 2, 3]), Entry(term: 7, index: 12, kind: .confChange)]
        var r = Message(kind: .appendResponse, from: 2, to: 1, term: 7)
        r.reject = true
        r.index = 10
        r.rejectHint = 4
        r.logTerm = 3
        var v = Message(kind: .vote, from: 3, to: 1, term: 9)
        v.isTransfer = true
        var h = Message(kind: .heartbeat, from: 1, to: 3, term: 9)
        h.context = 42
        h.leaseTick = 1_000_000
        var s = Message(kind: .snapshot, from: 1, to: 4, term: 9)
        s.chunk = SnapshotChunk(
            metadata: SnapshotMetadata(
                index: 100, term: 8,
                membership: Membership(voters: [1, 2, 4], outgoingVoters: [1, 2, 3], learners: [5])),
            offset: 4, totalBytes: 10, data: [9, 9, 9])
        return [a, r, v, h, s, Message(kind: .timeoutNow, from: 1, to: 2, term: 1)]
    }()

    @Test func roundTrip() throws {
        for m in Self.samples {
            var b: [UInt8] = []
            MessageCodec.encode(m, into: &b)
            var reader = ByteReader(b)
            #expect(try MessageCodec.decode(from: &reader) == m, "\(m)")
            #expect(reader.isAtEnd)
        }
    }

    /// Every truncation and every single-byte corruption of a valid message either decodes or
    /// throws; none traps. (Malformed bytes come from peers.)
    @Test func malformedInputThrowsNeverTraps() {
        for m in Self.samples {
            var b: [UInt8] = []
            MessageCodec.encode(m, into: &b)
            for cut in 0..<b.count {
                var reader = ByteReader(Array(b[..<cut]))
                #expect(throws: RaftError.self) { try MessageCodec.decode(from: &reader) }
            }
            for k in b.indices {
                for flip: UInt8 in [0x01, 0x80, 0xFF] {
                    var c = b
                    c[k] ^= flip
                    var reader = ByteReader(c)
                    _ = try? MessageCodec.decode(from: &reader)
                }
            }
        }
    }
}
