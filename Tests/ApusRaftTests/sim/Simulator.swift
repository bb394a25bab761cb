// A seeded, deterministic simulator of a Raft group running a replicated key-value store.
//
// Everything random (network delay, loss, duplication, reordering, partitions, crashes, disk
// latency, tick rates, client behavior, fault mix, cluster size) comes from one SplitMix64
// seeded by the run's seed, and events run in (time, sequence) order, so a seed replays exactly.
// Safety invariants are checked after every event; linearizability, log matching and liveness
// at the end of the run.
import ApusCore

@testable import ApusRaft

/// A safety or liveness violation, with the seed that reproduces it.
struct SimulationFailure: Error, CustomStringConvertible {
    var seed: UInt64
    var time: UInt64
    var message: String
    var description: String {
        "raft simulation failed: seed=\(seed) time=\(time): \(message)\n"
            + "replay: APUS_RAFT_SEED=\(seed) swift test --filter ApusRaftTests.SimulationTests/replaySeed"
    }
}

/// The fault mix and shape of one run, all derived from the seed.
struct SimulationPlan: CustomStringConvertible {
    var nodeCount: Int
    var dropRate: Double
    var duplicateRate: Double
    var delayMax: UInt64
    var partitions: Bool
    var oneWayPartitions: Bool
    var crashes: Bool
    var slowDisk: Bool
    var snapshotInterval: Int?
    var leaseReads: Bool
    var membershipChanges: Bool
    var tickJitterPercent: Int
    var faultTicks: Int
    var clients: Int
    var messageBytesMax: Int
    var inflightMessagesMax: Int

    init(seed: UInt64) {
        var r = SplitMix64(seed: seed ^ 0xA5A5_5A5A_0F0F_F0F0)
        func chance(_ p: Double) -> Bool { Double(r.next() % 10_000) / 10_000 < p }
        let sizes = [1, 3, 3, 3, 5, 5, 5, 7]
        nodeCount = sizes[Int(r.next() % UInt64(sizes.count))]
        dropRate = chance(0.6) ? Double(r.next() % 20) / 100 : 0
        duplicateRate = chance(0.4) ? Double(r.next() % 10) / 100 : 0
        delayMax = [2, 5, 10, 30][Int(r.next() % 4)]
        partitions = chance(0.6)
        oneWayPartitions = chance(0.4)
        crashes = chance(0.6)
        slowDisk = chance(0.3)
        snapshotInterval = chance(0.5) ? 5 + Int(r.next() % 30) : nil
        leaseReads = chance(0.3)
        membershipChanges = nodeCount >= 3 && chance(0.35)
        tickJitterPercent = leaseReads ? 10 : Int(r.next() % 30)
        faultTicks = 120 + Int(r.next() % 120)
        clients = 1 + Int(r.next() % 4)
        // One entry per message (1 byte) splits old-term entries from a new leader's entry, the
        // situation of the paper's Figure 8.
        messageBytesMax = [1, 64, 512, 4096][Int(r.next() % 4)]
        inflightMessagesMax = [1, 4, 64][Int(r.next() % 3)]
    }

    var description: String {
        "nodes=\(nodeCount) drop=\(dropRate) dup=\(duplicateRate) delayMax=\(delayMax) partitions=\(partitions)"
            + " oneWay=\(oneWayPartitions) crashes=\(crashes) slowDisk=\(slowDisk)"
            + " snapshotEvery=\(snapshotInterval.map(String.init) ?? "-") lease=\(leaseReads)"
            + " reconfig=\(membershipChanges) jitter=\(tickJitterPercent)% ticks=\(faultTicks) clients=\(clients)"
            + " msgBytes=\(messageBytesMax) inflight=\(inflightMessagesMax)"
    }
}

/// A key-value command as stored in a log entry.
struct KVCommand: Equatable {
    var client: UInt64
    var op: UInt64
    var key: UInt64
    var value: UInt64

    func encoded() -> [UInt8] {
        var b: [UInt8] = []
        b.appendVarint(client)
        b.appendVarint(op)
        b.appendVarint(key)
        b.appendVarint(value)
        return b
    }

    init(client: UInt64, op: UInt64, key: UInt64, value: UInt64) {
        self.client = client
        self.op = op
        self.key = key
        self.value = value
    }

    init?(_ bytes: [UInt8]) {
        var r = ByteReader(bytes)
        guard let c = try? r.readVarint(), let o = try? r.readVarint(), let k = try? r.readVarint(),
            let v = try? r.readVarint(), r.isAtEnd
        else { return nil }
        self.init(client: c, op: o, key: k, value: v)
    }
}

final class Simulator {
    /// Time units per nominal tick.
    static let tickUnits: UInt64 = 10

    enum EventKind {
        case tick(Int, incarnation: Int)
        case deliver(Message)
        case persisted(Int, incarnation: Int)
        case clientIssue(Int)
        case clientTimeout(Int, op: UInt64)
        case fault
        case restart(Int)
        case healPartition(Int)
        case flushProposals(Int, incarnation: Int)
    }

    /// A heap entry stays small (the payload, often a message, sits in `payloads`), so that
    /// sifting moves three words instead of a whole message.
    struct Event {
        var time: UInt64
        var sequence: UInt64
        var slot: Int
    }

    final class Node {
        let id: NodeID
        var storage: MemoryStorage
        var raft: RaftNode<MemoryStorage>?
        var incarnation = 0
        var kv: [UInt64: UInt64] = [:]
        var applied: LogIndex = 0
        var pendingReady: Ready?
        var tickInterval: UInt64
        var diskDelayMax: UInt64 = 0
        /// Reads whose ReadState arrived, waiting for the state machine to reach their index.
        var waitingReads: [(requestID: UInt64, index: LogIndex)] = []
        var checkedCommit: LogIndex = 0
        /// Client writes waiting to be proposed together as one batch.
        var proposalQueue: [(client: Int, command: KVCommand)] = []
        init(id: NodeID, storage: MemoryStorage, tickInterval: UInt64) {
            self.id = id
            self.storage = storage
            self.tickInterval = tickInterval
        }
    }

    enum OpKind {
        case write(UInt64)
        case read
    }

    struct ClientOp {
        var id: UInt64
        var key: UInt64
        var kind: OpKind
        var call: UInt64
        var node: Int
    }

    struct Client {
        var current: ClientOp?
        var preferredNode: Int
    }

    let seed: UInt64
    let plan: SimulationPlan
    let config: RaftConfig
    var rng: SplitMix64
    var now: UInt64 = 0
    var sequence: UInt64 = 0
    var heap: [Event] = []
    var payloads: [EventKind?] = []
    var freeSlots: [Int] = []
    var nodes: [Node] = []
    var clients: [Client] = []
    var history: [HistoryOp] = []
    var nextOpID: UInt64 = 1
    var nextReadID: UInt64 = 1
    /// Outstanding read requests: request ID → (client, op ID).
    var readRequests: [UInt64: (client: Int, op: UInt64)] = [:]
    /// Blocked directed links (from, to) by node position.
    var blocked: Set<Int> = []
    var partitionID = 0
    var faultsActive = true
    var clientsStopped = false
    /// The history was too large to decide within the checker's budget (counted, not failed).
    var linearizabilityUnknown = false
    var failure: SimulationFailure?

    // Checker state.
    var leaders: [Term: NodeID] = [:]
    var committedTerms: [LogIndex: Term] = [:]
    var appliedCommands: [LogIndex: [UInt8]] = [:]
    /// Every entry ever persisted, by (index, term): its data and the term of the entry before
    /// it in the log that held it.
    var entryFacts: [EntryID: (data: [UInt8], previousTerm: Term?)] = [:]

    struct EntryID: Hashable {
        var index: LogIndex
        var term: Term
    }
    var acknowledgedWrites: [(index: LogIndex, term: Term, command: KVCommand)] = []
    var stats = (
        events: 0, messages: 0, acks: 0, reads: 0, elections: 0, snapshots: 0, confChanges: 0, batches: 0, leaseReads: 0
    )

    /// A deliberately broken shell that sends a Ready's messages before persisting it, to show
    /// that the simulation detects a violation of the Ready order rule.
    let sendsBeforePersisting: Bool

    init(seed: UInt64, sendsBeforePersisting: Bool = false) {
        self.seed = seed
        self.sendsBeforePersisting = sendsBeforePersisting
        plan = SimulationPlan(seed: seed)
        rng = SplitMix64(seed: seed)
        var c = RaftConfig()
        c.electionTimeoutTicks = 10
        c.heartbeatTicks = 2
        c.messageBytesMax = plan.messageBytesMax
        c.inflightMessagesMax = plan.inflightMessagesMax
        c.snapshotChunkBytesMax = 64
        if plan.leaseReads { c.readMode = .lease(clockDriftMax: 0.25) }
        config = c
        let ids = (1...plan.nodeCount).map { NodeID(UInt64($0)) }
        let membership = Membership(voters: ids)
        for id in ids {
            let jitter = UInt64(plan.tickJitterPercent)
            let interval = Self.tickUnits * (100 - jitter + rng.next() % (2 * jitter + 1)) / 100
            let n = Node(id: id, storage: MemoryStorage(membership: membership), tickInterval: max(1, interval))
            if plan.slowDisk && (sendsBeforePersisting || rng.next() % 2 == 0) { n.diskDelayMax = 3 * Self.tickUnits }
            nodes.append(n)
        }
        for k in nodes.indices { start(k) }
        for c in 0..<plan.clients {
            clients.append(Client(current: nil, preferredNode: c % plan.nodeCount))
            schedule(after: 1 + rng.next() % 20, .clientIssue(c))
        }
        schedule(after: 5 * Self.tickUnits, .fault)
    }

    // MARK: - Event queue

    func schedule(after delay: UInt64, _ kind: EventKind) {
        sequence += 1
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            payloads[slot] = kind
        } else {
            slot = payloads.count
            payloads.append(kind)
        }
        heap.append(Event(time: now + delay, sequence: sequence, slot: slot))
        var i = heap.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard before(heap[i], heap[p]) else { break }
            heap.swapAt(i, p)
            i = p
        }
    }

    private func before(_ a: Event, _ b: Event) -> Bool {
        a.time != b.time ? a.time < b.time : a.sequence < b.sequence
    }

    private func popEvent() -> Event? {
        guard !heap.isEmpty else { return nil }
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < heap.count && before(heap[l], heap[m]) { m = l }
                if r < heap.count && before(heap[r], heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return top
    }

    func random(_ n: UInt64) -> UInt64 { n == 0 ? 0 : rng.next() % n }
    func chance(_ p: Double) -> Bool { Double(rng.next() % 1_000_000) / 1_000_000 < p }

    // MARK: - Running

    /// Runs the fault phase, heals everything, then demands progress and checks the history.
    func run() -> SimulationFailure? {
        let faultEnd = UInt64(plan.faultTicks) * Self.tickUnits
        runUntil(faultEnd)
        if failure != nil { return failure }
        healAll()
        checkLiveness()
        if failure != nil { return failure }
        checkFinal()
        return failure
    }

    func runUntil(_ end: UInt64, stopWhen: (() -> Bool)? = nil) {
        while failure == nil, let e = heap.first, e.time <= end {
            guard let ev = popEvent(), let kind = payloads[ev.slot] else { break }
            payloads[ev.slot] = nil
            freeSlots.append(ev.slot)
            now = ev.time
            stats.events += 1
            handle(kind)
            if let stop = stopWhen, stop() { return }
        }
        if failure == nil { now = max(now, end) }
    }

    func fail(_ message: String) {
        if failure == nil { failure = SimulationFailure(seed: seed, time: now, message: message + " [\(plan)]") }
    }

    private func handle(_ kind: EventKind) {
        switch kind {
        case .tick(let k, let inc):
            let n = nodes[k]
            guard let raft = n.raft, n.incarnation == inc else { return }
            raft.tick()
            schedule(after: n.tickInterval, .tick(k, incarnation: inc))
            pump(k)
        case .deliver(let m):
            let k = Int(m.to.rawValue) - 1
            guard let raft = nodes[k].raft else { return }
            raft.step(m)
            pump(k)
        case .persisted(let k, let inc):
            guard nodes[k].incarnation == inc, nodes[k].raft != nil else { return }
            finishReady(k)
            pump(k)
        case .clientIssue(let c):
            issue(c)
        case .clientTimeout(let c, let op):
            timeout(c, op: op)
        case .fault:
            injectFault()
        case .restart(let k):
            if nodes[k].raft == nil { start(k) }
        case .healPartition(let id):
            if id == partitionID { blocked = [] }
        case .flushProposals(let k, let inc):
            guard nodes[k].incarnation == inc else { return }
            flushProposals(k)
        }
    }

    // MARK: - Nodes

    func start(_ k: Int) {
        let n = nodes[k]
        n.incarnation += 1
        do {
            n.raft = try RaftNode(id: n.id, storage: n.storage, config: config, randomSeed: rng.next())
        } catch {
            fail("node \(n.id) failed to start: \(error)")
            return
        }
        let snap = n.storage.snapshot()
        n.kv = Self.decodeKV(snap.data)
        n.applied = snap.metadata.index
        n.pendingReady = nil
        n.waitingReads = []
        n.checkedCommit = 0
        schedule(after: 1 + random(n.tickInterval), .tick(k, incarnation: n.incarnation))
        pump(k)
    }

    func flushProposals(_ k: Int) {
        let n = nodes[k]
        let batch = n.proposalQueue
        n.proposalQueue = []
        guard let raft = n.raft, !batch.isEmpty else { return }
        do {
            try raft.propose(batch.map { $0.command.encoded() })
            stats.batches += 1
        } catch {
            for item in batch where clients[item.client].current?.id == item.command.op {
                clients[item.client].current = nil
                retryLater(item.client, hint: error.leaderHint)
            }
        }
        pump(k)
    }

    func crash(_ k: Int) {
        let n = nodes[k]
        stats.leaseReads += n.raft?.leaseReadCount ?? 0
        n.proposalQueue = []
        n.raft = nil
        n.pendingReady = nil
        n.waitingReads = []
        n.kv = [:]
        n.incarnation += 1
    }

    /// Takes the next Ready when the previous one finished; unsynced work waits for the disk.
    func pump(_ k: Int) {
        let n = nodes[k]
        guard let raft = n.raft else { return }
        checkNode(k)
        guard n.pendingReady == nil, raft.hasReady else { return }
        var r = raft.ready()
        if sendsBeforePersisting {
            for m in r.messages { send(m) }
            r.messages = []
        }
        n.pendingReady = r
        if r.needsSync && n.diskDelayMax > 0 {
            schedule(after: 1 + random(n.diskDelayMax), .persisted(k, incarnation: n.incarnation))
        } else {
            finishReady(k)
            pump(k)
        }
    }

    /// Persists, sends, applies and advances one Ready, in the order the contract demands.
    func finishReady(_ k: Int) {
        let n = nodes[k]
        guard let raft = n.raft, let r = n.pendingReady else { return }
        n.pendingReady = nil
        do {
            if let s = r.snapshot { try n.storage.applySnapshot(s) }
            try n.storage.append(r.entries)
            if let hs = r.hardState { try n.storage.setHardState(hs) }
            try n.storage.sync()
        } catch {
            fail("storage write failed on \(n.id): \(error)")
            return
        }
        checkLogMatching(r.entries, storage: n.storage)
        for m in r.messages { send(m) }
        if let s = r.snapshot {
            n.kv = Self.decodeKV(s.data)
            n.applied = s.metadata.index
            stats.snapshots += 1
        }
        for e in r.committedEntries { apply(e, on: k) }
        for rs in r.readStates { n.waitingReads.append((rs.requestID, rs.index)) }
        serveReads(k)
        raft.advance(r)
        if let every = plan.snapshotInterval,
            LogIndex.distance(from: n.storage.snapshot().metadata.index, to: n.applied) >= every
        {
            do {
                try n.storage.createSnapshot(at: n.applied, membership: raft.membership, data: Self.encodeKV(n.kv))
                try n.storage.compact(through: n.applied - min(3, Int(n.applied.rawValue)))
            } catch {
                fail("snapshot failed on \(n.id): \(error)")
            }
        }
    }

    func apply(_ e: Entry, on k: Int) {
        let n = nodes[k]
        guard e.index == n.applied + 1 else {
            fail("\(n.id) applies \(e.index) after \(n.applied)")
            return
        }
        n.applied = e.index
        if let prior = appliedCommands[e.index] {
            if prior != e.data { fail("state machine safety: \(n.id) applied different data at \(e.index)") }
        } else {
            appliedCommands[e.index] = e.data
        }
        if let t = committedTerms[e.index], t != e.term {
            fail("\(n.id) applied \(e.term)/\(e.index) but \(t)/\(e.index) was committed")
        }
        guard e.kind == .normal, let cmd = KVCommand(e.data) else { return }
        n.kv[cmd.key] = cmd.value
        // Acknowledge the write to its client if it was proposed through this node.
        let c = Int(cmd.client)
        guard c < clients.count, let op = clients[c].current, op.id == cmd.op, op.node == k else { return }
        acknowledgedWrites.append((e.index, e.term, cmd))
        history.append(HistoryOp(key: cmd.key, kind: .write(cmd.value), call: op.call, ret: now, client: c))
        stats.acks += 1
        finishOp(c)
    }

    func serveReads(_ k: Int) {
        let n = nodes[k]
        var remaining: [(requestID: UInt64, index: LogIndex)] = []
        for r in n.waitingReads {
            guard n.applied >= r.index else {
                remaining.append(r)
                continue
            }
            guard let (c, opID) = readRequests.removeValue(forKey: r.requestID), let op = clients[c].current,
                op.id == opID, op.node == k
            else { continue }
            history.append(HistoryOp(key: op.key, kind: .read(n.kv[op.key] ?? 0), call: op.call, ret: now, client: c))
            stats.reads += 1
            finishOp(c)
        }
        n.waitingReads = remaining
    }

    // MARK: - Network

    func send(_ m: Message) {
        stats.messages += 1
        let from = Int(m.from.rawValue) - 1
        let to = Int(m.to.rawValue) - 1
        guard to >= 0, to < nodes.count else { return }
        if blocked.contains(from * 64 + to) { return }
        if faultsActive && chance(plan.dropRate) { return }
        let copies = faultsActive && chance(plan.duplicateRate) ? 2 : 1
        for _ in 0..<copies { schedule(after: 1 + random(plan.delayMax), .deliver(m)) }
    }

    // MARK: - Faults

    func injectFault() {
        guard faultsActive else { return }
        // The broken-shell runs crash and partition often, to open the windows it leaves.
        schedule(after: Self.tickUnits * (sendsBeforePersisting ? 1 + random(5) : 5 + random(25)), .fault)
        let count = nodes.count
        switch sendsBeforePersisting ? random(2) : random(4) {
        case 0 where plan.partitions && count > 1:
            partitionID += 1
            blocked = []
            let side = (0..<count).map { _ in random(2) == 0 }
            for a in 0..<count {
                for b in 0..<count where a != b && side[a] != side[b] {
                    if !plan.oneWayPartitions || side[a] { blocked.insert(a * 64 + b) }
                }
            }
            schedule(after: Self.tickUnits * (10 + random(60)), .healPartition(partitionID))
        case 1 where plan.crashes:
            // Half of the crashes hit the leader, where most interesting histories start.
            let k = random(2) == 0 ? currentLeader() ?? Int(random(UInt64(count))) : Int(random(UInt64(count)))
            if nodes[k].raft != nil {
                crash(k)
                schedule(after: Self.tickUnits * (1 + random(40)), .restart(k))
            }
        case 2 where plan.membershipChanges:
            changeMembership()
        case 3:
            if let leader = currentLeader(), count > 1, random(3) == 0 {
                let target = NodeID(1 + random(UInt64(count)))
                try? nodes[leader].raft?.transferLeadership(to: target)
                pump(leader)
            }
        default:
            break
        }
    }

    /// Proposes a random membership change at the leader: demote a voter to learner, promote a
    /// learner, or swap one voter for a learner in one joint step. At least one voter remains
    /// and every node stays a member, so the final convergence check covers all of them.
    func changeMembership() {
        guard let k = currentLeader(), let raft = nodes[k].raft else { return }
        let m = raft.membership
        guard !m.isJoint else { return }
        var items: [ConfChange.Item] = []
        if let l = m.learners.first, random(2) == 0 {
            items.append(.addVoter(l))
            if m.voters.count >= 3 && random(2) == 0, let v = m.voters.last(where: { $0 != raft.id }) {
                items.append(.addLearner(v))
            }
        } else if m.voters.count >= 3 {
            let v = m.voters[Int(random(UInt64(m.voters.count)))]
            items.append(.addLearner(v))
        }
        guard !items.isEmpty else { return }
        if (try? raft.proposeConfChange(ConfChange(items))) != nil { stats.confChanges += 1 }
        pump(k)
    }

    func currentLeader() -> Int? {
        var best: (node: Int, term: Term)?
        for (k, n) in nodes.enumerated() {
            guard let r = n.raft, r.role == .leader else { continue }
            if r.term > best?.term ?? 0 { best = (k, r.term) }
        }
        return best?.node
    }

    func healAll() {
        faultsActive = false
        blocked = []
        partitionID += 1
        for (k, n) in nodes.enumerated() {
            n.diskDelayMax = 0
            if n.raft == nil { start(k) }
        }
    }

    // MARK: - Clients

    func issue(_ c: Int) {
        guard clients[c].current == nil, !clientsStopped else { return }
        let k = clients[c].preferredNode
        let key = random(5)
        let op = ClientOp(id: nextOpID, key: key, kind: random(2) == 0 ? .read : .write(nextOpID), call: now, node: k)
        nextOpID += 1
        guard let raft = nodes[k].raft else {
            retryLater(c)
            return
        }
        switch op.kind {
        case .write(let v):
            guard raft.role == .leader else {
                retryLater(c, hint: raft.leaderID)
                return
            }
            // Writes arriving within a short window are proposed as one batch.
            let n = nodes[k]
            if n.proposalQueue.isEmpty {
                schedule(after: 1 + random(3), .flushProposals(k, incarnation: n.incarnation))
            }
            n.proposalQueue.append((c, KVCommand(client: UInt64(c), op: op.id, key: key, value: v)))
        case .read:
            let rid = nextReadID
            nextReadID += 1
            do {
                try raft.readIndex(requestID: rid)
            } catch {
                retryLater(c, hint: error.leaderHint)
                return
            }
            readRequests[rid] = (c, op.id)
        }
        clients[c].current = op
        schedule(after: Self.tickUnits * 40, .clientTimeout(c, op: op.id))
        pump(k)
    }

    func retryLater(_ c: Int, hint: NodeID? = nil) {
        if let h = hint, h.rawValue >= 1, Int(h.rawValue) <= nodes.count {
            clients[c].preferredNode = Int(h.rawValue) - 1
        } else {
            clients[c].preferredNode = Int(random(UInt64(nodes.count)))
        }
        schedule(after: 1 + random(2 * Self.tickUnits), .clientIssue(c))
    }

    func timeout(_ c: Int, op: UInt64) {
        guard let cur = clients[c].current, cur.id == op else { return }
        if case .write(let v) = cur.kind {
            // Outcome unknown: the write may take effect at any time after its call.
            history.append(HistoryOp(key: cur.key, kind: .write(v), call: cur.call, ret: UInt64.max, client: c))
        }
        clients[c].current = nil
        retryLater(c)
    }

    func finishOp(_ c: Int) {
        clients[c].current = nil
        schedule(after: 1 + random(Self.tickUnits), .clientIssue(c))
    }

    // MARK: - Checks

    /// Log matching, checked on every persisted batch: at most one entry per (index, term) across
    /// all nodes and time, and the entry before a given (index, term) always has the same term.
    /// By induction over indexes, two logs that share an (index, term) agree on everything before.
    func checkLogMatching(_ entries: [Entry], storage: MemoryStorage) {
        var previous: Term? = entries.first.flatMap { storage.term(at: $0.index - 1) }
        for e in entries {
            let id = EntryID(index: e.index, term: e.term)
            if let known = entryFacts[id] {
                if known.data != e.data { fail("log matching: two different entries at \(e.term)/\(e.index)") }
                if let p = previous, let q = known.previousTerm, p != q {
                    fail("log matching: \(e.term)/\(e.index) follows term \(p) here and term \(q) elsewhere")
                }
            } else {
                entryFacts[id] = (e.data, previous)
            }
            previous = e.term
        }
    }

    /// Election safety, leader completeness and committed-prefix agreement for one node.
    func checkNode(_ k: Int) {
        let n = nodes[k]
        guard let raft = n.raft else { return }
        if raft.role == .leader {
            if let other = leaders[raft.term] {
                if other != raft.id { fail("election safety: \(other) and \(raft.id) both lead term \(raft.term)") }
            } else {
                leaders[raft.term] = raft.id
                stats.elections += 1
                // Leader completeness: the new leader holds every entry known committed.
                for (i, t) in committedTerms where i >= raft.firstIndex {
                    if raft.term(at: i) != t {
                        fail("leader completeness: \(raft.id) leads \(raft.term) without committed \(t)/\(i)")
                    }
                }
            }
        }
        var i = max(n.checkedCommit + 1, raft.firstIndex)
        while i <= raft.commitIndex {
            guard let t = raft.term(at: i) else { break }
            if let known = committedTerms[i] {
                if known != t { fail("\(raft.id) commits \(t)/\(i) but \(known)/\(i) was committed") }
            } else {
                committedTerms[i] = t
            }
            i = i + 1
        }
        n.checkedCommit = max(n.checkedCommit, raft.commitIndex)
    }

    /// After healing, a write must be acknowledged within a bound; then, with clients stopped,
    /// every node must catch up with the leader within a second bound.
    func checkLiveness() {
        let ackDeadline = now + Self.tickUnits * 200
        let acksBefore = stats.acks
        runUntil(ackDeadline) { [unowned self] in self.stats.acks > acksBefore }
        if failure != nil { return }
        guard stats.acks > acksBefore else {
            fail("liveness: no write acknowledged within 200 ticks after healing: \(clusterState())")
            return
        }
        clientsStopped = true
        let deadline = now + Self.tickUnits * 300
        runUntil(deadline) { [unowned self] in
            guard let l = self.currentLeader(), let lr = self.nodes[l].raft else { return false }
            let target = lr.commitIndex
            return lr.lastIndex == target
                && self.nodes.allSatisfy { n in
                    guard let r = n.raft else { return false }
                    return n.applied >= target && r.commitIndex >= target && n.pendingReady == nil
                }
        }
        if failure != nil { return }
        if now >= deadline {
            fail("liveness: nodes did not converge within 300 ticks of quiet: \(clusterState())")
        }
    }

    func clusterState() -> String {
        nodes.map { n in
            "\(n.id):"
                + (n.raft.map { "\($0.role) t\($0.term) c\($0.commitIndex) a\(n.applied) last\($0.lastIndex)" }
                    ?? "down")
        }.joined(separator: " ")
    }

    func checkFinal() {
        for n in nodes { stats.leaseReads += n.raft?.leaseReadCount ?? 0 }
        // Every node converged to the same state machine.
        let reference = nodes[0]
        for n in nodes.dropFirst() where n.applied == reference.applied && n.kv != reference.kv {
            fail("\(n.id) and \(reference.id) applied \(n.applied) but hold different data")
        }
        // No acknowledged write lost.
        for w in acknowledgedWrites {
            if committedTerms[w.index] != w.term || appliedCommands[w.index] != w.command.encoded() {
                fail("acknowledged write \(w.command) at \(w.term)/\(w.index) lost")
            }
        }
        // Log matching, part two: where two logs agree on a term they agree on everything before.
        for a in nodes.indices {
            for b in nodes.indices where b > a {
                guard let ra = nodes[a].raft, let rb = nodes[b].raft else { continue }
                let lower = max(ra.firstIndex, rb.firstIndex)
                let upper = min(ra.lastIndex, rb.lastIndex)
                guard lower <= upper, let ea = ra.entries(from: lower, to: upper + 1),
                    let eb = rb.entries(from: lower, to: upper + 1)
                else { continue }
                var agreeFrom: Int? = nil
                for j in stride(from: ea.count - 1, through: 0, by: -1) where ea[j].term == eb[j].term {
                    agreeFrom = j
                    break
                }
                if let top = agreeFrom {
                    for j in 0...top where ea[j] != eb[j] {
                        let at = ea[j].index
                        fail("log matching: \(ra.id) and \(rb.id) differ at \(at) below agreeing \(ea[top].index)")
                        break
                    }
                }
            }
        }
        switch Linearizability.check(history) {
        case .ok: break
        case .unknown: linearizabilityUnknown = true
        case .violation(let key):
            let ops = history.filter { $0.key == key }.sorted { $0.call < $1.call }
            fail("history not linearizable for key \(key):\n" + ops.map(\.description).joined(separator: "\n"))
        }
    }

    // MARK: - KV snapshot format

    static func encodeKV(_ kv: [UInt64: UInt64]) -> [UInt8] {
        var b: [UInt8] = []
        for k in kv.keys.sorted() {
            b.appendVarint(k)
            b.appendVarint(kv[k] ?? 0)
        }
        return b
    }

    static func decodeKV(_ bytes: [UInt8]) -> [UInt64: UInt64] {
        var r = ByteReader(bytes)
        var kv: [UInt64: UInt64] = [:]
        while !r.isAtEnd {
            guard let k = try? r.readVarint(), let v = try? r.readVarint() else { break }
            kv[k] = v
        }
        return kv
    }
}

extension Error {
    var leaderHint: NodeID? { (self as? RaftError)?.leaderHint }
}
