/// Configuration and limits of one Raft node.
///
/// Every limit names its unit and says what happens at the bound (STYLE §5). `validate()` checks
/// the relations between them and throws rather than clamping.
package struct RaftConfig: Sendable, Hashable {
    /// How linearizable reads are served by the leader.
    package enum ReadMode: Sendable, Hashable {
        /// ReadIndex: every read confirms leadership with a heartbeat round to a quorum.
        case readIndex
        /// Leader lease: a leader answers from its commit index without a round trip while a
        /// quorum acknowledged a heartbeat it sent less than `leaseTicks` ago. Safe only if no
        /// node's tick runs faster than the leader's by more than `clockDriftMax` (0.1 = 10%),
        /// because followers refuse votes for `electionTimeoutTicks` of their own ticks after
        /// hearing from a leader. Requires `checkQuorum`.
        case lease(clockDriftMax: Double)
    }

    /// Ticks without hearing from a leader before a follower campaigns; the actual timeout is
    /// drawn uniformly from `electionTimeoutTicks ..< 2 * electionTimeoutTicks`.
    package var electionTimeoutTicks: Int = 10
    /// Ticks between leader heartbeats. Must be below `electionTimeoutTicks`.
    package var heartbeatTicks: Int = 1
    /// Pre-vote: a node first asks whether it could win before raising its term, so a partitioned
    /// node rejoining cannot depose a healthy leader.
    package var preVote: Bool = true
    /// Check-quorum: a leader that has not heard from a quorum within an election timeout steps
    /// down, and followers that recently heard from a leader ignore vote requests.
    package var checkQuorum: Bool = true
    /// Append messages in flight per follower; at the bound the leader stops sending until
    /// acknowledgements free a slot (back-pressure, nothing dropped).
    package var inflightMessagesMax: Int = 64
    /// Entry bytes in flight per follower; at the bound, like `inflightMessagesMax`.
    package var inflightBytesMax: Int = 8 << 20
    /// Entry bytes in one append message; a single larger entry still goes alone.
    package var messageBytesMax: Int = 256 << 10
    /// Committed entry bytes handed out in one `Ready`; the rest follow in later batches.
    package var committedBytesPerReadyMax: Int = 4 << 20
    /// Bytes of snapshot data in one InstallSnapshot chunk.
    package var snapshotChunkBytesMax: Int = 64 << 10
    /// Proposals in one `propose` call (batching bound).
    package var proposalBatchEntriesMax: Int = 1024
    /// Unanswered read requests a leader holds; beyond it `readIndex` throws `.busy`.
    package var pendingReadsMax: Int = 4096
    package var readMode: ReadMode = .readIndex
    /// Leaving joint consensus is proposed by the leader as soon as it applies the joint entry.
    package var autoLeaveJoint: Bool = true

    package init() {}

    /// Checks the relations between the limits.
    package func validate() throws(RaftError) {
        guard electionTimeoutTicks >= 2 else { throw RaftError(.invalidConfig, "electionTimeoutTicks < 2") }
        guard heartbeatTicks >= 1, heartbeatTicks < electionTimeoutTicks else {
            throw RaftError(.invalidConfig, "heartbeatTicks must be in 1 ..< electionTimeoutTicks")
        }
        guard inflightMessagesMax >= 1, inflightBytesMax >= 1, messageBytesMax >= 1 else {
            throw RaftError(.invalidConfig, "in-flight and message limits must be positive")
        }
        guard snapshotChunkBytesMax >= 1, committedBytesPerReadyMax >= 1, proposalBatchEntriesMax >= 1,
            pendingReadsMax >= 1
        else { throw RaftError(.invalidConfig, "batch limits must be positive") }
        if case .lease(let drift) = readMode {
            guard checkQuorum else { throw RaftError(.invalidConfig, "lease reads require checkQuorum") }
            guard drift >= 0, drift < 1 else { throw RaftError(.invalidConfig, "clockDriftMax must be in 0..<1") }
            guard leaseTicks >= 1 else { throw RaftError(.invalidConfig, "lease shorter than one tick") }
        }
    }

    /// How long, in the leader's ticks, a quorum-acknowledged heartbeat keeps the lease: an
    /// election timeout shrunk by the drift bound, minus one tick for tick granularity.
    package var leaseTicks: Int {
        guard case .lease(let drift) = readMode else { return 0 }
        return Int((Double(electionTimeoutTicks) / (1 + drift)).rounded(.down)) - 1
    }
}

/// The error type of `ApusRaft`: an open set of codes plus a message.
package struct RaftError: Error, Sendable, Hashable, CustomStringConvertible {
    package struct Code: RawRepresentable, Sendable, Hashable {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        /// This node is not the leader; `leaderHint` may name it.
        package static let notLeader = Code(rawValue: "not-leader")
        /// A leadership transfer is in progress; retry after it ends.
        package static let transferInProgress = Code(rawValue: "transfer-in-progress")
        /// A membership change is proposed but not yet applied.
        package static let confChangePending = Code(rawValue: "conf-change-pending")
        /// The membership change is not allowed from the current configuration.
        package static let invalidConfChange = Code(rawValue: "invalid-conf-change")
        /// A bound was reached (proposal batch, pending reads).
        package static let busy = Code(rawValue: "busy")
        /// The requested entries were compacted into a snapshot.
        package static let compacted = Code(rawValue: "compacted")
        /// The requested entries are beyond the end of the log.
        package static let unavailable = Code(rawValue: "unavailable")
        /// A configuration value is out of range.
        package static let invalidConfig = Code(rawValue: "invalid-config")
        /// Stored bytes could not be decoded.
        package static let corrupt = Code(rawValue: "corrupt")
        /// The storage failed an operation (I/O).
        package static let io = Code(rawValue: "io")
    }

    package var code: Code
    package var message: String
    package var leaderHint: NodeID?

    package init(_ code: Code, _ message: String, leaderHint: NodeID? = nil) {
        self.code = code
        self.message = message
        self.leaderHint = leaderHint
    }

    package var description: String { "raft \(code.rawValue): \(message)" }
}

