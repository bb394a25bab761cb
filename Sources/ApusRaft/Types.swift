/// The value types of the Raft core: terms, indexes, node IDs, log entries, hard state,
/// membership, snapshots and messages.
///
/// Distinct quantities are distinct types (STYLE §3): a `Term` never mixes with a `LogIndex`
/// without an explicit conversion. All are plain `Sendable` values.

/// A Raft term (election epoch). Zero means "no term yet".
package struct Term: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    package var rawValue: UInt64
    package init(rawValue: UInt64) { self.rawValue = rawValue }
    package init(_ rawValue: UInt64) { self.rawValue = rawValue }
    package init(integerLiteral value: UInt64) { self.rawValue = value }
    package static func < (lhs: Term, rhs: Term) -> Bool { lhs.rawValue < rhs.rawValue }
    package var description: String { String(rawValue) }
    /// The following term.
    package var next: Term { Term(rawValue + 1) }
}

/// A position in the Raft log. Index 0 is before the first entry and has term 0.
package struct LogIndex: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    package var rawValue: UInt64
    package init(rawValue: UInt64) { self.rawValue = rawValue }
    package init(_ rawValue: UInt64) { self.rawValue = rawValue }
    package init(integerLiteral value: UInt64) { self.rawValue = value }
    package static func < (lhs: LogIndex, rhs: LogIndex) -> Bool { lhs.rawValue < rhs.rawValue }
    package var description: String { String(rawValue) }
    /// `self + count`; a count of entries moves an index.
    package static func + (lhs: LogIndex, rhs: Int) -> LogIndex {
        precondition(rhs >= 0 || UInt64(-rhs) <= lhs.rawValue, "LogIndex underflow")
        return rhs >= 0 ? LogIndex(lhs.rawValue + UInt64(rhs)) : LogIndex(lhs.rawValue - UInt64(-rhs))
    }
    package static func - (lhs: LogIndex, rhs: Int) -> LogIndex { lhs + (-rhs) }
    /// The number of entries in `lower ..< upper` (zero when `upper <= lower`).
    package static func distance(from lower: LogIndex, to upper: LogIndex) -> Int {
        upper > lower ? Int(upper.rawValue - lower.rawValue) : 0
    }
}

/// The ID of one member of a Raft group. Zero is reserved for "none".
package struct NodeID: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    package var rawValue: UInt64
    package init(rawValue: UInt64) { self.rawValue = rawValue }
    package init(_ rawValue: UInt64) { self.rawValue = rawValue }
    package init(integerLiteral value: UInt64) { self.rawValue = value }
    package static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.rawValue < rhs.rawValue }
    package var description: String { "n\(rawValue)" }
}

/// What a log entry carries.
package enum EntryKind: UInt8, Sendable, Hashable {
    /// An application command (empty data: the no-op a new leader appends).
    case normal = 0
    /// An encoded `ConfChange`; it takes effect when applied (see `RaftNode.advance`).
    case confChange = 1
}

/// One entry of the replicated log.
package struct Entry: Sendable, Hashable, CustomStringConvertible {
    package var term: Term
    package var index: LogIndex
    package var kind: EntryKind
    package var data: [UInt8]

    package init(term: Term, index: LogIndex, kind: EntryKind = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.kind = kind
        self.data = data
    }

    /// Bytes counted against flow-control and batching limits: payload plus a fixed overhead.
    package var sizeBytes: Int { data.count + 24 }

    package var description: String { "\(term)/\(index)\(kind == .confChange ? "cc" : "")" }
}

/// The state that must be durable before any message that depends on it is sent.
package struct HardState: Sendable, Hashable, CustomStringConvertible {
    package var term: Term
    /// The candidate voted for in `term`, if any.
    package var vote: NodeID?
    /// Highest index known committed. Persisting it is an optimization (restart applies sooner).
    package var commit: LogIndex

    package init(term: Term = 0, vote: NodeID? = nil, commit: LogIndex = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }

    package var description: String { "term=\(term) vote=\(vote.map { "\($0)" } ?? "-") commit=\(commit)" }
}

/// The members of a group: voters, and during joint consensus the outgoing voters; learners
/// receive the log but never vote and never count toward a quorum.
///
/// Invariant: every array is sorted and free of duplicates, so iteration order is deterministic.
package struct Membership: Sendable, Hashable, CustomStringConvertible {
    /// Voters of the (incoming) configuration.
    package private(set) var voters: [NodeID]
    /// Voters of the outgoing configuration; non-empty exactly while in a joint configuration.
    package private(set) var outgoingVoters: [NodeID]
    /// Non-voting members.
    package private(set) var learners: [NodeID]

    package init(voters: [NodeID], outgoingVoters: [NodeID] = [], learners: [NodeID] = []) {
        self.voters = Membership.normalized(voters)
        self.outgoingVoters = Membership.normalized(outgoingVoters)
        self.learners = Membership.normalized(learners.filter { !voters.contains($0) })
    }

    static func normalized(_ ids: [NodeID]) -> [NodeID] {
        var out: [NodeID] = []
        for id in ids.sorted() where out.last != id { out.append(id) }
        return out
    }

    /// True while the group runs under C_old,new.
    package var isJoint: Bool { !outgoingVoters.isEmpty }

    /// True when `id` votes in either configuration.
    package func isVoter(_ id: NodeID) -> Bool {
        voters.contains(id) || outgoingVoters.contains(id)
    }

    /// Every member that receives the log, sorted.
    package var allMembers: [NodeID] { Membership.normalized(voters + outgoingVoters + learners) }

    /// The configuration after `change`: entering joint consensus or leaving it.
    ///
    /// - Returns: nil when the change is not allowed from this state (enter while joint,
    ///   leave while simple, a change that leaves no voters).
    package func applying(_ change: ConfChange) -> Membership? {
        if change.items.isEmpty {
            guard isJoint else { return nil }
            return Membership(voters: voters, learners: learners)
        }
        guard !isJoint else { return nil }
        var incoming = voters
        var newLearners = learners
        for item in change.items {
            switch item {
            case .addVoter(let id):
                if !incoming.contains(id) { incoming.append(id) }
                newLearners.removeAll { $0 == id }
            case .addLearner(let id):
                incoming.removeAll { $0 == id }
                if !newLearners.contains(id) { newLearners.append(id) }
            case .remove(let id):
                incoming.removeAll { $0 == id }
                newLearners.removeAll { $0 == id }
            }
        }
        guard !incoming.isEmpty else { return nil }
        var result = Membership(voters: incoming, outgoingVoters: voters)
        result.learners = Membership.normalized(newLearners.filter { !incoming.contains($0) })
        return result
    }

    package var description: String {
        var s = "voters=" + voters.map(\.description).joined(separator: ",")
        if isJoint { s += " outgoing=" + outgoingVoters.map(\.description).joined(separator: ",") }
        if !learners.isEmpty { s += " learners=" + learners.map(\.description).joined(separator: ",") }
        return s
    }
}

/// A membership change. Non-empty `items` enter a joint configuration (C_old,new) in one step, so
/// several voters can be added, removed or replaced at once; empty `items` leave it (C_new).
package struct ConfChange: Sendable, Hashable {
    package enum Item: Sendable, Hashable {
        case addVoter(NodeID)
        case addLearner(NodeID)
        case remove(NodeID)
    }

    package var items: [Item]
    package init(_ items: [Item]) { self.items = items }
    /// The change that leaves joint consensus.
    package static let leaveJoint = ConfChange([])
}

/// Metadata of a snapshot: the last index and term it covers and the membership at that index.
package struct SnapshotMetadata: Sendable, Hashable {
    package var index: LogIndex
    package var term: Term
    package var membership: Membership
    package init(index: LogIndex, term: Term, membership: Membership) {
        self.index = index
        self.term = term
        self.membership = membership
    }
}

/// A snapshot of the application state machine at `metadata.index`.
package struct Snapshot: Sendable, Hashable {
    package var metadata: SnapshotMetadata
    package var data: [UInt8]
    package init(metadata: SnapshotMetadata, data: [UInt8]) {
        self.metadata = metadata
        self.data = data
    }
}

/// A slice of a snapshot in flight from a leader to a follower (InstallSnapshot in chunks).
package struct SnapshotChunk: Sendable, Hashable {
    package var metadata: SnapshotMetadata
    /// Byte offset of `data` within the whole snapshot.
    package var offset: Int
    /// Size of the whole snapshot data.
    package var totalBytes: Int
    package var data: [UInt8]
}

/// A linearizable read that became safe: once the state machine has applied `index`, reading it
/// returns a result that reflects every write completed before the read was requested.
package struct ReadState: Sendable, Hashable {
    package var index: LogIndex
    package var requestID: UInt64
    package init(index: LogIndex, requestID: UInt64) {
        self.index = index
        self.requestID = requestID
    }
}

/// The role a node plays in its current term.
package enum Role: String, Sendable, Hashable {
    case follower, preCandidate, candidate, leader
}

/// The kinds of message exchanged between members.
package enum MessageKind: String, Sendable, Hashable {
    case preVote, preVoteResponse, vote, voteResponse
    case append, appendResponse, heartbeat, heartbeatResponse
    case snapshot, snapshotResponse
    case readIndex, readIndexResponse
    case timeoutNow
}

/// One message between members. Fields unused by a kind stay at their defaults.
package struct Message: Sendable, Hashable, CustomStringConvertible {
    package var kind: MessageKind
    package var from: NodeID
    package var to: NodeID
    package var term: Term
    /// append: term of `index` (the previous entry); vote: last log term; reject: hint term.
    package var logTerm: Term = 0
    /// append: previous index; appendResponse: last matching index or rejected index;
    /// vote: last log index; readIndexResponse: the read index.
    package var index: LogIndex = 0
    package var entries: [Entry] = []
    package var commit: LogIndex = 0
    package var reject: Bool = false
    /// appendResponse with `reject`: the follower's guess of the last index that may match.
    package var rejectHint: LogIndex = 0
    /// readIndex/readIndexResponse: request ID; heartbeat(Response): read round sequence number.
    package var context: UInt64 = 0
    /// heartbeat(Response): the leader's tick count when it sent the heartbeat (lease reads).
    package var leaseTick: UInt64 = 0
    /// vote: a leadership transfer, which bypasses the leader-lease vote check.
    package var isTransfer: Bool = false
    /// snapshot: one chunk; snapshotResponse: `index` carries the bytes received so far.
    package var chunk: SnapshotChunk? = nil

    package init(kind: MessageKind, from: NodeID, to: NodeID, term: Term) {
        self.kind = kind
        self.from = from
        self.to = to
        self.term = term
    }

    /// Bytes counted against flow-control limits.
    package var sizeBytes: Int {
        64 + entries.reduce(0) { $0 + $1.sizeBytes } + (chunk?.data.count ?? 0)
    }

    package var description: String {
        var s = "\(from)->\(to) \(kind) t\(term)"
        switch kind {
        case .append:
            s +=
                " prev=\(logTerm)/\(index) commit=\(commit) entries=["
                + entries.map(\.description).joined(separator: " ") + "]"
        case .appendResponse:
            s += reject ? " reject index=\(index) hint=\(logTerm)/\(rejectHint)" : " index=\(index)"
        case .vote, .preVote:
            s += " last=\(logTerm)/\(index)" + (isTransfer ? " transfer" : "")
        case .voteResponse, .preVoteResponse:
            s += reject ? " rejected" : " granted"
        case .heartbeat:
            s += " commit=\(commit)"
        case .snapshot:
            if let c = chunk { s += " snap=\(c.metadata.term)/\(c.metadata.index) off=\(c.offset)/\(c.totalBytes)" }
        case .snapshotResponse:
            s += " received=\(index.rawValue)"
        case .readIndex, .readIndexResponse:
            s += " req=\(context) index=\(index)"
        case .heartbeatResponse, .timeoutNow:
            break
        }
        return s
    }
}
