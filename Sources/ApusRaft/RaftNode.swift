import ApusCore
/// One member of a Raft group as a pure, deterministic state machine.
///
/// Inputs: `tick()`, `step(_:)` (a message from a peer), `propose(_:)`, `proposeConfChange(_:)`,
/// `readIndex(requestID:)`, `transferLeadership(to:)`, `campaign()`. Outputs: `ready()` returns a
/// `Ready` batch; the shell persists, sends, applies (in that order) and calls `advance(_:)`.
///
/// No I/O, clocks, threads or system randomness: time is ticks, randomness is a `SplitMix64`
/// seeded by the caller, and every iteration that reaches the output walks a sorted array.
///
/// Concurrency: not `Sendable`; one owner drives it.
package final class RaftNode<Storage: RaftStorage> {
    package let id: NodeID
    package let config: RaftConfig
    var log: RaftLog<Storage>
    var random: SplitMix64

    package private(set) var term: Term
    package private(set) var vote: NodeID?
    package private(set) var role: Role = .follower
    package private(set) var leaderID: NodeID?
    /// The membership as of the applied index.
    package private(set) var membership: Membership
    package private(set) var leadTransferee: NodeID?
    /// Reads this node answered from its lease, without a heartbeat round (status counter).
    package private(set) var leaseReadCount = 0

    var progress: [NodeID: Progress] = [:]
    var votes: [NodeID: Bool] = [:]
    var electionElapsed = 0
    var heartbeatElapsed = 0
    var transferElapsed = 0
    var randomizedElectionTimeout = 0
    /// Set after a restart with check-quorum: votes are refused for an election timeout, because
    /// this node may have acknowledged a leader's lease just before it crashed.
    var voteGuardActive = false
    var pendingConfIndex: LogIndex = 0
    /// Leader ticks since it was elected, starting at 1 (lease bookkeeping).
    var leaderTick: UInt64 = 0
    var leaseRevoked = false
    var readSequence: UInt64 = 0
    var pendingReads: [PendingRead] = []
    var readsBeforeCommit: [PendingRead] = []
    var incomingSnapshot: (metadata: SnapshotMetadata, data: [UInt8])?
    var outbox: [Message] = []
    var readStates: [ReadState] = []
    var lastHardState: HardState
    var isReadyOutstanding = false
    var chunkSentTick: [NodeID: UInt64] = [:]

    struct PendingRead {
        var requestID: UInt64
        var from: NodeID
        var index: LogIndex
        var sequence: UInt64
    }

    /// Creates a node from what `storage` holds (a fresh group or a restart).
    /// - Throws: `RaftError.invalidConfig` when `config.validate()` fails.
    package init(id: NodeID, storage: Storage, config: RaftConfig, randomSeed: UInt64) throws(RaftError) {
        try config.validate()
        precondition(id.rawValue != 0, "node ID 0 is reserved")
        let (hs, mem) = storage.initialState()
        self.id = id
        self.config = config
        log = RaftLog(storage: storage, committed: hs.commit)
        random = SplitMix64(seed: randomSeed ^ (id.rawValue &* 0x9E37_79B9_7F4A_7C15))
        term = hs.term
        vote = hs.vote
        membership = mem
        lastHardState = hs
        becomeFollower(term: hs.term, leader: nil)
        voteGuardActive = config.checkQuorum && hs.term > 0
    }

    // MARK: - Status

    package var commitIndex: LogIndex { log.committed }
    package var appliedIndex: LogIndex { log.applied }
    package var lastIndex: LogIndex { log.lastIndex }
    package var firstIndex: LogIndex { log.firstIndex }
    package var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    /// The term of the entry at `index` as this node sees it (unstable entries included).
    package func term(at index: LogIndex) -> Term? { log.term(at: index) }
    /// Entries in `lower ..< upper` as this node sees them; nil if compacted.
    package func entries(from lower: LogIndex, to upper: LogIndex) -> [Entry]? {
        log.slice(from: lower, to: min(upper, log.lastIndex + 1), bytesMax: Int.max)
    }
    /// The leader's view of a follower's match index (nil when not leader or unknown).
    package func matchIndex(of node: NodeID) -> LogIndex? { role == .leader ? progress[node]?.match : nil }
    /// The leader's view of a follower's replication state, for tests and status pages.
    package func progressState(of node: NodeID) -> String? { role == .leader ? progress[node]?.state.rawValue : nil }

    var isPromotable: Bool { membership.isVoter(id) }

    // MARK: - Role changes

    private func reset(term t: Term) {
        if term != t {
            term = t
            vote = nil
        }
        leaderID = nil
        electionElapsed = 0
        heartbeatElapsed = 0
        transferElapsed = 0
        randomizedElectionTimeout =
            config.electionTimeoutTicks + Int(random.next() % UInt64(config.electionTimeoutTicks))
        leadTransferee = nil
        votes = [:]
        voteGuardActive = false
        pendingReads = []
        readsBeforeCommit = []
        leaseRevoked = false
        leaderTick = 0
        chunkSentTick = [:]
        resetProgress()
    }

    private func resetProgress() {
        progress = [:]
        for n in membership.allMembers {
            progress[n] = Progress(
                next: log.lastIndex + 1, inflightMessagesMax: config.inflightMessagesMax,
                inflightBytesMax: config.inflightBytesMax)
        }
    }

    func becomeFollower(term t: Term, leader: NodeID?) {
        reset(term: t)
        role = .follower
        leaderID = leader
    }

    private func becomePreCandidate() {
        precondition(role != .leader, "leader cannot become pre-candidate")
        votes = [:]
        leaderID = nil
        voteGuardActive = false
        role = .preCandidate
    }

    private func becomeCandidate() {
        precondition(role != .leader, "leader cannot become candidate")
        reset(term: term.next)
        vote = id
        role = .candidate
    }

    private func becomeLeader() {
        precondition(role == .candidate, "only a candidate becomes leader")
        reset(term: term)
        role = .leader
        leaderID = id
        leaderTick = 1
        progress[id]?.match = log.stableLastIndex
        // Conservative: no membership change until everything before this term is applied.
        pendingConfIndex = log.lastIndex
        appendEntries([Entry(term: term, index: 0)])
        broadcastAppend()
    }

    // MARK: - Inputs

    /// Advances logical time by one tick.
    package func tick() {
        if role == .leader {
            tickLeader()
        } else {
            electionElapsed += 1
            if electionElapsed >= config.electionTimeoutTicks { voteGuardActive = false }
            if isPromotable && electionElapsed >= randomizedElectionTimeout {
                electionElapsed = 0
                campaign()
            }
        }
    }

    private func tickLeader() {
        heartbeatElapsed += 1
        electionElapsed += 1
        leaderTick += 1
        if leadTransferee != nil {
            transferElapsed += 1
            if transferElapsed >= config.electionTimeoutTicks { leadTransferee = nil }
        }
        if electionElapsed >= config.electionTimeoutTicks {
            electionElapsed = 0
            if config.checkQuorum {
                progress[id]?.isRecentlyActive = true
                var active: [NodeID: Bool] = [:]
                for n in membership.allMembers { active[n] = progress[n]?.isRecentlyActive ?? false }
                for n in membership.allMembers where n != id { progress[n]?.isRecentlyActive = false }
                if Quorum.jointVoteResult(membership, active) != .won {
                    becomeFollower(term: term, leader: nil)
                    return
                }
            }
        }
        if heartbeatElapsed >= config.heartbeatTicks {
            heartbeatElapsed = 0
            broadcastHeartbeat()
        }
    }

    /// Starts an election now (pre-vote first when configured), as an election timeout would.
    package func campaign() { campaign(preVote: config.preVote, transfer: false) }

    private func campaign(preVote: Bool, transfer: Bool) {
        guard isPromotable, role != .leader, !hasUnappliedConfChanges() else { return }
        let kind: MessageKind
        let voteTerm: Term
        if preVote {
            becomePreCandidate()
            kind = .preVote
            voteTerm = term.next
        } else {
            becomeCandidate()
            kind = .vote
            voteTerm = term
        }
        votes[id] = true
        if Quorum.jointVoteResult(membership, votes) == .won {
            if preVote { campaign(preVote: false, transfer: transfer) } else { becomeLeader() }
            return
        }
        let voters = Membership.normalized(membership.voters + membership.outgoingVoters)
        for v in voters where v != id {
            var m = Message(kind: kind, from: id, to: v, term: voteTerm)
            m.index = log.lastIndex
            m.logTerm = log.lastTerm
            m.isTransfer = transfer
            outbox.append(m)
        }
    }

    private func hasUnappliedConfChanges() -> Bool {
        var i = max(log.applied + 1, log.firstIndex)
        while i <= log.committed {
            guard let ents = log.slice(from: i, to: log.committed + 1, bytesMax: 1 << 20), let last = ents.last
            else { return false }
            if ents.contains(where: { $0.kind == .confChange }) { return true }
            i = last.index + 1
        }
        return false
    }

    /// Handles one message from a peer. Malformed or stale messages are ignored.
    package func step(_ m: Message) {
        guard m.to == id, m.from != id, m.from.rawValue != 0 else { return }
        if m.term > term {
            if m.kind == .vote || m.kind == .preVote {
                let inLease =
                    config.checkQuorum && (leaderID != nil || voteGuardActive)
                    && electionElapsed < config.electionTimeoutTicks
                if inLease && !m.isTransfer { return }
            }
            switch m.kind {
            case .preVote: break
            case .preVoteResponse where !m.reject: break
            case .append, .heartbeat, .snapshot: becomeFollower(term: m.term, leader: m.from)
            default: becomeFollower(term: m.term, leader: nil)
            }
        } else if m.term < term {
            if (config.checkQuorum || config.preVote) && (m.kind == .heartbeat || m.kind == .append) {
                // Tells a stale leader (e.g. one rejoining after a partition) about the new term.
                send(Message(kind: .appendResponse, from: id, to: m.from, term: term))
            } else if m.kind == .preVote {
                var r = Message(kind: .preVoteResponse, from: id, to: m.from, term: term)
                r.reject = true
                send(r)
            }
            return
        }
        switch m.kind {
        case .preVote, .vote:
            handleVoteRequest(m)
        default:
            switch role {
            case .leader: stepLeader(m)
            case .candidate, .preCandidate: stepCandidate(m)
            case .follower: stepFollower(m)
            }
        }
    }

    private func handleVoteRequest(_ m: Message) {
        let canVote =
            vote == m.from || (vote == nil && leaderID == nil) || (m.kind == .preVote && m.term > term)
        let responseKind: MessageKind = m.kind == .vote ? .voteResponse : .preVoteResponse
        if canVote && log.isUpToDate(lastIndex: m.index, lastTerm: m.logTerm) {
            send(Message(kind: responseKind, from: id, to: m.from, term: m.term))
            if m.kind == .vote {
                electionElapsed = 0
                vote = m.from
            }
        } else {
            var r = Message(kind: responseKind, from: id, to: m.from, term: term)
            r.reject = true
            send(r)
        }
    }

    private func stepCandidate(_ m: Message) {
        switch m.kind {
        case .append:
            becomeFollower(term: m.term, leader: m.from)
            handleAppend(m)
        case .heartbeat:
            becomeFollower(term: m.term, leader: m.from)
            handleHeartbeat(m)
        case .snapshot:
            becomeFollower(term: m.term, leader: m.from)
            handleSnapshot(m)
        case .preVoteResponse, .voteResponse:
            guard (m.kind == .preVoteResponse) == (role == .preCandidate) else { return }
            if votes[m.from] == nil { votes[m.from] = !m.reject }
            switch Quorum.jointVoteResult(membership, votes) {
            case .won:
                if role == .preCandidate { campaign(preVote: false, transfer: false) } else { becomeLeader() }
            case .lost:
                becomeFollower(term: term, leader: nil)
            case .pending:
                break
            }
        default:
            break
        }
    }

    private func stepFollower(_ m: Message) {
        switch m.kind {
        case .append:
            electionElapsed = 0
            leaderID = m.from
            handleAppend(m)
        case .heartbeat:
            electionElapsed = 0
            leaderID = m.from
            handleHeartbeat(m)
        case .snapshot:
            electionElapsed = 0
            leaderID = m.from
            handleSnapshot(m)
        case .timeoutNow:
            campaign(preVote: false, transfer: true)
        case .readIndexResponse:
            readStates.append(ReadState(index: m.index, requestID: m.context))
        default:
            break
        }
    }

    // MARK: - Follower handlers

    private func handleAppend(_ m: Message) {
        var r = Message(kind: .appendResponse, from: id, to: m.from, term: term)
        if m.index < log.committed {
            r.index = log.committed
            send(r)
            return
        }
        // Validate at the gateway: entries must be contiguous after `index`.
        for (k, e) in m.entries.enumerated() where e.index.rawValue &- m.index.rawValue != UInt64(k + 1) { return }
        if let last = log.maybeAppend(prevIndex: m.index, prevTerm: m.logTerm, commit: m.commit, entries: m.entries) {
            r.index = last
        } else {
            let (hintIndex, hintTerm) = log.findConflictByTerm(min(m.index, log.lastIndex), m.logTerm)
            r.reject = true
            r.index = m.index
            r.rejectHint = hintIndex
            r.logTerm = hintTerm
        }
        send(r)
    }

    private func handleHeartbeat(_ m: Message) {
        log.advanceCommit(to: min(m.commit, log.lastIndex))
        var r = Message(kind: .heartbeatResponse, from: id, to: m.from, term: term)
        r.context = m.context
        r.leaseTick = m.leaseTick
        send(r)
    }

    private func handleSnapshot(_ m: Message) {
        guard let c = m.chunk else { return }
        var r = Message(kind: .appendResponse, from: id, to: m.from, term: term)
        if c.metadata.index <= log.committed {
            incomingSnapshot = nil
            r.index = log.committed
            send(r)
            return
        }
        if c.offset == 0 { incomingSnapshot = (c.metadata, []) }
        guard var inc = incomingSnapshot, inc.metadata == c.metadata, inc.data.count == c.offset,
            c.offset + c.data.count <= c.totalBytes
        else {
            // Out of order or from another snapshot: tell the leader where we stand.
            var nack = Message(kind: .snapshotResponse, from: id, to: m.from, term: term)
            nack.reject = true
            nack.index = LogIndex(
                UInt64(incomingSnapshot?.metadata == c.metadata ? incomingSnapshot?.data.count ?? 0 : 0))
            send(nack)
            return
        }
        inc.data.append(contentsOf: c.data)
        if inc.data.count < c.totalBytes {
            incomingSnapshot = inc
            var ack = Message(kind: .snapshotResponse, from: id, to: m.from, term: term)
            ack.index = LogIndex(UInt64(inc.data.count))
            send(ack)
            return
        }
        incomingSnapshot = nil
        _ = restore(Snapshot(metadata: c.metadata, data: inc.data))
        r.index = log.lastIndex
        send(r)
    }

    /// Installs a snapshot from the leader unless the log already holds its last entry.
    private func restore(_ s: Snapshot) -> Bool {
        guard s.metadata.index > log.committed else { return false }
        if log.matchTerm(s.metadata.index, s.metadata.term) {
            log.advanceCommit(to: s.metadata.index)
            return false
        }
        log.restore(s)
        membership = s.metadata.membership
        resetProgress()
        return true
    }

    // MARK: - Leader

    private func stepLeader(_ m: Message) {
        guard var pr = progress[m.from] else { return }
        switch m.kind {
        case .appendResponse:
            handleAppendResponse(m, pr)
        case .heartbeatResponse:
            pr.isRecentlyActive = true
            // Clamped: an echo can never be ahead of what this leader sent.
            pr.readAckSequence = max(pr.readAckSequence, min(m.context, readSequence))
            pr.leaseAckTick = max(pr.leaseAckTick, min(m.leaseTick, leaderTick))
            if pr.state != .snapshot { pr.isWaiting = false }
            if pr.state == .replicate && pr.inflights.isFull { pr.inflights.freeFirst() }
            progress[m.from] = pr
            if pr.state == .snapshot {
                let sent = chunkSentTick[m.from] ?? 0
                if !pr.isWaiting || leaderTick >= sent + UInt64(max(2, config.electionTimeoutTicks / 2)) {
                    sendSnapshotChunk(to: m.from)
                }
            } else if pr.match < log.lastIndex {
                _ = sendAppend(to: m.from)
            }
            releaseReads()
        case .snapshotResponse:
            pr.isRecentlyActive = true
            guard pr.state == .snapshot, let s = pr.pendingSnapshot else { return }
            let received = min(Int(clamping: m.index.rawValue), s.data.count)
            if received > pr.snapshotOffset {
                pr.snapshotOffset = received
                pr.isWaiting = false
                progress[m.from] = pr
                sendSnapshotChunk(to: m.from)
            } else if m.reject {
                pr.snapshotOffset = received
                pr.isWaiting = false
                progress[m.from] = pr
            }
        case .readIndex:
            leaderRead(PendingRead(requestID: m.context, from: m.from, index: 0, sequence: 0))
        default:
            break
        }
    }

    /// A follower's answer to an append: back off on rejection (using its hint), otherwise
    /// advance its match, commit what a quorum now holds and keep the pipeline full.
    private func handleAppendResponse(_ m: Message, _ progressBefore: Progress) {
        var pr = progressBefore
        pr.isRecentlyActive = true
        if m.reject {
            var hint = min(m.rejectHint, log.lastIndex)
            if m.logTerm > 0 { hint = log.findConflictByTerm(hint, m.logTerm).0 }
            if pr.maybeDecrease(rejected: m.index, hint: hint) {
                if pr.state == .replicate { pr.becomeProbe() }
                progress[m.from] = pr
                _ = sendAppend(to: m.from)
            } else {
                progress[m.from] = pr
            }
            return
        }
        guard m.index <= log.lastIndex else { return }
        let wasPaused = pr.isPaused
        guard pr.maybeUpdate(m.index) || (pr.match == m.index && pr.state == .probe) else {
            progress[m.from] = pr
            return
        }
        switch pr.state {
        case .probe:
            pr.becomeReplicate()
        case .snapshot:
            if let s = pr.pendingSnapshot, pr.match >= s.metadata.index { pr.becomeProbe() }
        case .replicate:
            pr.inflights.free(through: m.index)
        }
        progress[m.from] = pr
        if maybeCommit() {
            broadcastAppend()
        } else if wasPaused {
            _ = sendAppend(to: m.from)
        }
        while sendAppend(to: m.from, sendIfEmpty: false) {}
        if m.from == leadTransferee, progress[m.from]?.match == log.lastIndex { sendTimeoutNow(to: m.from) }
    }

    private func appendEntries(_ entries: [Entry]) {
        var ents = entries
        let first = log.lastIndex + 1
        for k in ents.indices {
            ents[k].term = term
            ents[k].index = first + k
        }
        log.append(ents)
    }

    /// Sends the next append to `to`; returns whether a message was sent.
    @discardableResult
    private func sendAppend(to: NodeID, sendIfEmpty: Bool = true) -> Bool {
        guard to != id, var pr = progress[to], !pr.isPaused else { return false }
        if pr.next > log.lastIndex + 1 { pr.next = log.lastIndex + 1 }
        let prevIndex = pr.next - 1
        guard let prevTerm = log.term(at: prevIndex),
            let ents = log.slice(from: pr.next, to: log.lastIndex + 1, bytesMax: config.messageBytesMax)
        else {
            return sendSnapshot(to: to)
        }
        if ents.isEmpty && !sendIfEmpty { return false }
        var m = Message(kind: .append, from: id, to: to, term: term)
        m.index = prevIndex
        m.logTerm = prevTerm
        m.entries = ents
        m.commit = log.committed
        pr.sent(last: ents.last?.index ?? prevIndex, count: ents.count, bytes: ents.reduce(0) { $0 + $1.sizeBytes })
        progress[to] = pr
        send(m)
        return true
    }

    private func sendSnapshot(to: NodeID) -> Bool {
        guard var pr = progress[to], pr.isRecentlyActive else { return false }
        let snap = log.snapshot()
        guard snap.metadata.index > 0 else { return false }
        pr.becomeSnapshot(snap)
        progress[to] = pr
        sendSnapshotChunk(to: to)
        return true
    }

    private func sendSnapshotChunk(to: NodeID) {
        guard var pr = progress[to], pr.state == .snapshot, let snap = pr.pendingSnapshot else { return }
        let start = min(pr.snapshotOffset, snap.data.count)
        let end = min(start + config.snapshotChunkBytesMax, snap.data.count)
        var m = Message(kind: .snapshot, from: id, to: to, term: term)
        m.chunk = SnapshotChunk(
            metadata: snap.metadata, offset: start, totalBytes: snap.data.count, data: Array(snap.data[start..<end]))
        pr.isWaiting = true
        progress[to] = pr
        chunkSentTick[to] = leaderTick
        send(m)
    }

    private func sendTimeoutNow(to: NodeID) {
        leaseRevoked = true
        send(Message(kind: .timeoutNow, from: id, to: to, term: term))
    }

    private func broadcastAppend() {
        for n in membership.allMembers where n != id { _ = sendAppend(to: n) }
    }

    private func broadcastHeartbeat() {
        for n in membership.allMembers where n != id {
            var m = Message(kind: .heartbeat, from: id, to: n, term: term)
            m.commit = min(progress[n]?.match ?? 0, log.committed)
            m.context = readSequence
            m.leaseTick = leaderTick
            send(m)
        }
    }

    /// Advances the commit index to what a (joint) quorum has persisted, for current-term
    /// entries only (Figure 8: an old-term entry commits only under a current-term one).
    private func maybeCommit() -> Bool {
        let mci = Quorum.jointValue(membership) { progress[$0]?.match.rawValue ?? 0 }
        guard mci != UInt64.max else { return false }
        guard log.maybeCommit(LogIndex(mci), term: term) else { return false }
        if !readsBeforeCommit.isEmpty {
            let waiting = readsBeforeCommit
            readsBeforeCommit = []
            for r in waiting { leaderRead(r) }
        }
        return true
    }

    // MARK: - Reads

    /// Requests a linearizable read; a `ReadState` with `requestID` appears in a later `Ready`
    /// once it is safe to read at its index (after the state machine has applied it).
    /// - Throws: `.notLeader` when no leader is known, `.busy` at `pendingReadsMax`.
    package func readIndex(requestID: UInt64) throws(RaftError) {
        if role == .leader {
            guard pendingReads.count + readsBeforeCommit.count < config.pendingReadsMax else {
                throw RaftError(.busy, "too many pending reads")
            }
            leaderRead(PendingRead(requestID: requestID, from: id, index: 0, sequence: 0))
            return
        }
        guard let leader = leaderID else { throw RaftError(.notLeader, "no leader known") }
        var m = Message(kind: .readIndex, from: id, to: leader, term: term)
        m.context = requestID
        send(m)
    }

    private func leaderRead(_ request: PendingRead) {
        var r = request
        if membership.voters == [id] && !membership.isJoint {
            answerRead(r, index: log.committed)
            return
        }
        guard log.term(at: log.committed) == term else {
            // A new leader does not know the commit index until an entry of its term commits.
            if readsBeforeCommit.count < config.pendingReadsMax { readsBeforeCommit.append(r) }
            return
        }
        if isLeaseValid {
            leaseReadCount += 1
            answerRead(r, index: log.committed)
            return
        }
        guard pendingReads.count < config.pendingReadsMax else { return }
        readSequence += 1
        r.index = log.committed
        r.sequence = readSequence
        pendingReads.append(r)
        broadcastHeartbeat()
    }

    var isLeaseValid: Bool {
        guard case .lease = config.readMode, role == .leader, !leaseRevoked, leadTransferee == nil else {
            return false
        }
        let acked = Quorum.jointValue(membership) { $0 == id ? leaderTick : progress[$0]?.leaseAckTick ?? 0 }
        return acked > 0 && acked != UInt64.max && leaderTick < acked + UInt64(config.leaseTicks)
    }

    private func releaseReads() {
        guard !pendingReads.isEmpty else { return }
        let acked = Quorum.jointValue(membership) { $0 == id ? UInt64.max : progress[$0]?.readAckSequence ?? 0 }
        var k = 0
        while k < pendingReads.count, pendingReads[k].sequence <= acked {
            answerRead(pendingReads[k], index: pendingReads[k].index)
            k += 1
        }
        pendingReads.removeFirst(k)
    }

    private func answerRead(_ r: PendingRead, index: LogIndex) {
        if r.from == id {
            readStates.append(ReadState(index: index, requestID: r.requestID))
        } else {
            var m = Message(kind: .readIndexResponse, from: id, to: r.from, term: term)
            m.index = index
            m.context = r.requestID
            send(m)
        }
    }

    // MARK: - Proposals

    /// Appends a batch of commands to the leader's log and starts replicating them.
    /// - Returns: the index of the last appended entry (the first is `result - (count - 1)`).
    /// - Throws: `.notLeader` (with `leaderHint`), `.transferInProgress`, `.busy` for a batch
    ///   larger than `proposalBatchEntriesMax`.
    @discardableResult
    package func propose(_ batch: [[UInt8]]) throws(RaftError) -> LogIndex {
        try checkCanPropose()
        guard !batch.isEmpty, batch.count <= config.proposalBatchEntriesMax else {
            throw RaftError(.busy, "proposal batch of \(batch.count) entries")
        }
        appendEntries(batch.map { Entry(term: term, index: 0, data: $0) })
        broadcastNewEntries()
        return log.lastIndex
    }

    /// Proposes a membership change (joint consensus). Only one may be pending at a time.
    @discardableResult
    package func proposeConfChange(_ change: ConfChange) throws(RaftError) -> LogIndex {
        try checkCanPropose()
        guard pendingConfIndex <= log.applied else {
            throw RaftError(.confChangePending, "membership change at \(pendingConfIndex) not yet applied")
        }
        guard membership.applying(change) != nil else {
            throw RaftError(.invalidConfChange, "change not allowed from \(membership)")
        }
        appendEntries([Entry(term: term, index: 0, kind: .confChange, data: change.encoded())])
        pendingConfIndex = log.lastIndex
        broadcastNewEntries()
        return log.lastIndex
    }

    private func checkCanPropose() throws(RaftError) {
        guard role == .leader, progress[id] != nil else {
            throw RaftError(.notLeader, "not the leader", leaderHint: leaderID)
        }
        guard leadTransferee == nil else { throw RaftError(.transferInProgress, "leadership transfer in progress") }
    }

    private func broadcastNewEntries() {
        for n in membership.allMembers where n != id {
            while sendAppend(to: n, sendIfEmpty: false) {}
        }
    }

    /// Hands leadership to `target`: the leader stops taking proposals, brings the target up to
    /// date and tells it to campaign at once. Aborted after an election timeout.
    package func transferLeadership(to target: NodeID) throws(RaftError) {
        guard role == .leader else { throw RaftError(.notLeader, "not the leader", leaderHint: leaderID) }
        guard target != id, membership.isVoter(target), let pr = progress[target] else {
            throw RaftError(.invalidConfChange, "\(target) is not a voter that can take over")
        }
        guard leadTransferee != target else { return }
        leadTransferee = target
        transferElapsed = 0
        leaseRevoked = true
        if pr.match == log.lastIndex { sendTimeoutNow(to: target) } else { sendAppend(to: target) }
    }

    private func send(_ m: Message) { outbox.append(m) }

    // MARK: - Ready / advance

    /// Whether `ready()` would return any work.
    package var hasReady: Bool {
        !log.unstableEntries.isEmpty || log.unstableSnapshot != nil || !outbox.isEmpty || !readStates.isEmpty
            || hardState != lastHardState || log.hasNextCommittedEntries
    }

    /// The work accumulated since the last `advance`, in the order it must be done.
    /// - Precondition: the previous `Ready` was acknowledged with `advance(_:)`.
    package func ready() -> Ready {
        precondition(!isReadyOutstanding, "ready() called before advance() of the previous Ready")
        isReadyOutstanding = true
        let hs = hardState
        let r = Ready(
            hardState: hs != lastHardState ? hs : nil, snapshot: log.unstableSnapshot,
            entries: log.unstableEntries, messages: outbox,
            committedEntries: log.nextCommittedEntries(bytesMax: config.committedBytesPerReadyMax),
            readStates: readStates)
        outbox = []
        readStates = []
        return r
    }

    /// Acknowledges that the shell persisted, sent and applied everything in `ready`.
    /// Membership changes among its committed entries take effect here.
    package func advance(_ ready: Ready) {
        precondition(isReadyOutstanding, "advance() without ready()")
        isReadyOutstanding = false
        if let hs = ready.hardState { lastHardState = hs }
        if let s = ready.snapshot {
            log.stableSnapshot(to: s.metadata.index)
            log.markApplied(through: s.metadata.index)
        }
        if let last = ready.entries.last {
            log.stable(to: last.index, term: last.term)
            if role == .leader, log.matchTerm(last.index, last.term) {
                _ = progress[id]?.maybeUpdate(min(last.index, log.stableLastIndex))
                if maybeCommit() { broadcastAppend() }
            }
        }
        for e in ready.committedEntries where e.kind == .confChange && e.index > log.applied {
            log.markApplied(through: e.index - 1)
            applyConfChange(e)
        }
        if let last = ready.committedEntries.last { log.markApplied(through: last.index) }
        maybeLeaveJoint()
        log.checkInvariants()
    }

    private func applyConfChange(_ e: Entry) {
        guard let change = ConfChange(decoding: e.data), let next = membership.applying(change) else { return }
        membership = next
        let members = next.allMembers
        for n in members where progress[n] == nil {
            var pr = Progress(
                next: log.lastIndex + 1, inflightMessagesMax: config.inflightMessagesMax,
                inflightBytesMax: config.inflightBytesMax)
            if n == id { pr.match = log.stableLastIndex }
            progress[n] = pr
        }
        for n in progress.keys.sorted() where !members.contains(n) { progress[n] = nil }
        guard role == .leader else { return }
        if !next.isVoter(id) {
            becomeFollower(term: term, leader: nil)
            return
        }
        if let t = leadTransferee, !next.isVoter(t) { leadTransferee = nil }
        if maybeCommit() { broadcastAppend() }
        broadcastAppend()
    }

    /// A leader in a joint configuration proposes leaving it once every membership change it
    /// knows of is applied; a new leader elected mid-change finishes the change the same way.
    private func maybeLeaveJoint() {
        guard role == .leader, config.autoLeaveJoint, membership.isJoint, leadTransferee == nil,
            pendingConfIndex <= log.applied
        else { return }
        appendEntries([Entry(term: term, index: 0, kind: .confChange, data: ConfChange.leaveJoint.encoded())])
        pendingConfIndex = log.lastIndex
        broadcastNewEntries()
    }
}

/// One batch of work for the shell, in the order it must happen:
///
/// 1. Persist `snapshot` (if any), then `entries`, then `hardState`, and sync. Nothing below may
///    happen before the sync returns.
/// 2. Send `messages` (they promise votes and acknowledge entries persisted in step 1).
/// 3. Install `snapshot` into the state machine, then apply `committedEntries` in order.
/// 4. Serve `readStates` once the state machine has applied their index.
/// 5. Call `advance` with this value, before the next `ready()`.
package struct Ready: Sendable {
    /// Term, vote and commit index to persist; nil when unchanged.
    package var hardState: HardState?
    /// A snapshot received from the leader: persist it (it replaces the log) and install it.
    package var snapshot: Snapshot?
    /// Entries to append to stable storage (they may overwrite a conflicting suffix).
    package var entries: [Entry]
    /// Messages to send after persisting. Loss, delay, duplication and reordering are tolerated.
    package var messages: [Message]
    /// Committed entries to apply, in index order; at most `committedBytesPerReadyMax` bytes.
    package var committedEntries: [Entry]
    /// Reads that became safe.
    package var readStates: [ReadState]

    /// Whether the batch needs any persistence (a sync) before its messages go out.
    package var needsSync: Bool { hardState != nil || snapshot != nil || !entries.isEmpty }
}
