/// What a leader knows about one follower's log, and the flow-control window toward it.
///
/// A follower is probed (one append at a time until a match is found), replicated (appends are
/// pipelined up to the in-flight bounds) or sent a snapshot (chunks, one at a time).
struct Progress {
    enum State: String { case probe, replicate, snapshot }

    var match: LogIndex = 0
    var next: LogIndex
    var state: State = .probe
    /// Probe: an append is outstanding. Snapshot: a chunk is outstanding.
    var isWaiting = false
    /// Heard from within the current check-quorum period.
    var isRecentlyActive = true
    var inflights: Inflights
    /// The snapshot being sent and the bytes the follower has acknowledged of it.
    var pendingSnapshot: Snapshot?
    var snapshotOffset = 0
    /// Highest read round (heartbeat context) the follower acknowledged.
    var readAckSequence: UInt64 = 0
    /// Highest leader tick at which a heartbeat was sent that the follower acknowledged.
    var leaseAckTick: UInt64 = 0

    init(next: LogIndex, inflightMessagesMax: Int, inflightBytesMax: Int) {
        self.next = next
        inflights = Inflights(messagesMax: inflightMessagesMax, bytesMax: inflightBytesMax)
    }

    var isPaused: Bool {
        switch state {
        case .probe: return isWaiting
        case .replicate: return inflights.isFull
        case .snapshot: return true
        }
    }

    mutating func becomeProbe() {
        if state == .snapshot, let s = pendingSnapshot {
            next = max(match + 1, s.metadata.index + 1)
        } else {
            next = match + 1
        }
        reset(.probe)
    }

    mutating func becomeReplicate() {
        next = match + 1
        reset(.replicate)
    }

    mutating func becomeSnapshot(_ snapshot: Snapshot) {
        reset(.snapshot)
        pendingSnapshot = snapshot
    }

    private mutating func reset(_ s: State) {
        state = s
        isWaiting = false
        pendingSnapshot = nil
        snapshotOffset = 0
        inflights.reset()
    }

    /// Records that the follower holds the log through `index`.
    mutating func maybeUpdate(_ index: LogIndex) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            isWaiting = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// Moves `next` back after a rejection of the append at `rejected`; `hint` is the highest
    /// index that may still match. Returns false when the rejection is stale.
    mutating func maybeDecrease(rejected: LogIndex, hint: LogIndex) -> Bool {
        if state == .replicate {
            guard rejected > match else { return false }
            next = match + 1
            return true
        }
        guard next - 1 == rejected else { return false }
        next = max(min(rejected, hint + 1), match + 1)
        isWaiting = false
        return true
    }

    /// Accounts for an append of `count` entries ending at `last` of `bytes` bytes.
    mutating func sent(last: LogIndex, count: Int, bytes: Int) {
        switch state {
        case .replicate:
            if count > 0 {
                next = last + 1
                inflights.add(last: last, bytes: bytes)
            }
        case .probe:
            isWaiting = true
        case .snapshot:
            preconditionFailure("append sent to a follower receiving a snapshot")
        }
    }
}

/// A bounded window of append messages in flight, by count and by bytes.
struct Inflights {
    let messagesMax: Int
    let bytesMax: Int
    private var items: [(last: LogIndex, bytes: Int)] = []
    private var head = 0
    private(set) var bytes = 0

    init(messagesMax: Int, bytesMax: Int) {
        self.messagesMax = messagesMax
        self.bytesMax = bytesMax
    }

    var count: Int { items.count - head }
    var isFull: Bool { count >= messagesMax || bytes >= bytesMax }

    mutating func add(last: LogIndex, bytes b: Int) {
        precondition(!isFull, "inflights full")
        items.append((last, b))
        bytes += b
    }

    /// Frees every message whose last index is at most `index`.
    mutating func free(through index: LogIndex) {
        while head < items.count, items[head].last <= index {
            bytes -= items[head].bytes
            head += 1
        }
        if head > 64 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
    }

    /// Frees the oldest message (its acknowledgement was probably lost).
    mutating func freeFirst() {
        guard head < items.count else { return }
        bytes -= items[head].bytes
        head += 1
    }

    mutating func reset() {
        items.removeAll(keepingCapacity: true)
        head = 0
        bytes = 0
    }
}

/// Quorum arithmetic over one or two (joint) voter sets.
enum Quorum {
    /// The highest value that a majority of `voters` has reached; `UInt64.max` for no voters,
    /// so an empty outgoing set never limits a joint result.
    static func majorityValue(_ voters: [NodeID], _ value: (NodeID) -> UInt64) -> UInt64 {
        guard !voters.isEmpty else { return UInt64.max }
        let sorted = voters.map(value).sorted()
        return sorted[sorted.count - (sorted.count / 2 + 1)]
    }

    /// The joint majority value: both configurations must reach it.
    static func jointValue(_ m: Membership, _ value: (NodeID) -> UInt64) -> UInt64 {
        min(majorityValue(m.voters, value), majorityValue(m.outgoingVoters, value))
    }

    enum VoteResult { case pending, won, lost }

    static func voteResult(_ voters: [NodeID], _ votes: [NodeID: Bool]) -> VoteResult {
        guard !voters.isEmpty else { return .won }
        var granted = 0
        var missing = 0
        for v in voters {
            switch votes[v] {
            case true?: granted += 1
            case false?: break
            case nil: missing += 1
            }
        }
        let q = voters.count / 2 + 1
        if granted >= q { return .won }
        if granted + missing >= q { return .pending }
        return .lost
    }

    static func jointVoteResult(_ m: Membership, _ votes: [NodeID: Bool]) -> VoteResult {
        let a = voteResult(m.voters, votes)
        let b = voteResult(m.outgoingVoters, votes)
        if a == .won && b == .won { return .won }
        if a == .lost || b == .lost { return .lost }
        return .pending
    }
}
