/// The core's view of the log: the stable part in `RaftStorage` plus an unstable suffix (and
/// possibly a received snapshot) that the next `Ready` hands to the shell to persist.
///
/// Concurrency: owned by one `RaftNode`.
struct RaftLog<Storage: RaftStorage> {
    let storage: Storage
    /// Index of `unstableEntries[0]`.
    private(set) var unstableOffset: LogIndex
    private(set) var unstableEntries: [Entry] = []
    /// A snapshot received from the leader, not yet persisted.
    private(set) var unstableSnapshot: Snapshot?
    /// Highest index known to be committed.
    private(set) var committed: LogIndex
    /// Highest index handed to the application (acknowledged through `advance`).
    private(set) var applied: LogIndex

    init(storage: Storage, committed: LogIndex) {
        self.storage = storage
        unstableOffset = storage.lastIndex + 1
        // The state machine restarts from the snapshot; compaction may have kept entries before it.
        applied = storage.snapshot().metadata.index
        self.committed = max(committed, applied)
        precondition(self.committed <= storage.lastIndex, "hard state commit beyond the stored log")
    }

    var firstIndex: LogIndex {
        if let s = unstableSnapshot { return s.metadata.index + 1 }
        return storage.firstIndex
    }

    var lastIndex: LogIndex {
        if !unstableEntries.isEmpty { return unstableOffset + (unstableEntries.count - 1) }
        if let s = unstableSnapshot { return s.metadata.index }
        return storage.lastIndex
    }

    /// The last index that is durable (stored, no unstable snapshot in front of it).
    var stableLastIndex: LogIndex {
        unstableSnapshot != nil ? 0 : unstableOffset - 1
    }

    func term(at index: LogIndex) -> Term? {
        if let s = unstableSnapshot {
            if index == s.metadata.index { return s.metadata.term }
            if index < s.metadata.index { return nil }
        }
        if index >= unstableOffset {
            let k = LogIndex.distance(from: unstableOffset, to: index)
            return k < unstableEntries.count ? unstableEntries[k].term : nil
        }
        if unstableSnapshot != nil { return nil }
        return storage.term(at: index)
    }

    var lastTerm: Term { term(at: lastIndex) ?? 0 }

    func matchTerm(_ index: LogIndex, _ t: Term) -> Bool { term(at: index) == t }

    /// Whether a log ending at `lastIndex`/`lastTerm` is at least as up to date as ours (§5.4.1).
    func isUpToDate(lastIndex idx: LogIndex, lastTerm t: Term) -> Bool {
        t > lastTerm || (t == lastTerm && idx >= lastIndex)
    }

    /// The first entry of `entries` that conflicts with the log or is new, if any.
    func findConflict(_ entries: [Entry]) -> LogIndex? {
        for e in entries where !matchTerm(e.index, e.term) { return e.index }
        return nil
    }

    /// The largest index `<= index` whose term is `<= t`, with its term (0 when unknown).
    /// Used for fast back-off: one round trip skips a whole term of divergent entries.
    func findConflictByTerm(_ index: LogIndex, _ t: Term) -> (LogIndex, Term) {
        var i = min(index, lastIndex)
        while true {
            guard let ti = term(at: i) else { return (i, 0) }
            if ti <= t || i == 0 { return (i, ti) }
            i = i - 1
        }
    }

    /// Appends a leader's entries after `prevIndex` if the log matches there (§5.3).
    /// - Returns: the index of the last new entry, or nil on mismatch.
    mutating func maybeAppend(prevIndex: LogIndex, prevTerm: Term, commit: LogIndex, entries: [Entry]) -> LogIndex? {
        guard matchTerm(prevIndex, prevTerm) else { return nil }
        let lastNew = prevIndex + entries.count
        if let c = findConflict(entries) {
            precondition(c > committed, "conflict at \(c) with committed entry (commit \(committed))")
            let k = LogIndex.distance(from: prevIndex + 1, to: c)
            append(Array(entries[k...]))
        }
        advanceCommit(to: min(commit, lastNew))
        return lastNew
    }

    /// Appends entries, truncating any unstable or stable suffix they overwrite.
    mutating func append(_ entries: [Entry]) {
        guard let after = entries.first?.index else { return }
        precondition(after > committed, "append at \(after) would overwrite committed \(committed)")
        let end = unstableOffset + unstableEntries.count
        if after == end {
            unstableEntries.append(contentsOf: entries)
        } else if after <= unstableOffset {
            unstableOffset = after
            unstableEntries = entries
        } else {
            unstableEntries.removeSubrange(LogIndex.distance(from: unstableOffset, to: after)...)
            unstableEntries.append(contentsOf: entries)
        }
    }

    /// Expensive structural check (INVARIANTS builds): unstable entries are contiguous from
    /// `unstableOffset`, terms never decrease, and the commit and apply indexes are ordered.
    func checkInvariants() {
        #if INVARIANTS
            for (k, e) in unstableEntries.enumerated() {
                precondition(e.index == unstableOffset + k, "unstable entries not contiguous at \(e.index)")
                if k > 0 { precondition(e.term >= unstableEntries[k - 1].term, "term decreases at \(e.index)") }
            }
            precondition(applied <= committed, "applied \(applied) beyond committed \(committed)")
            precondition(committed <= lastIndex, "committed \(committed) beyond last index \(lastIndex)")
        #endif
    }

    /// Entries in `lower ..< upper` up to `bytesMax` (at least one).
    /// - Returns: nil when `lower` was compacted.
    func slice(from lower: LogIndex, to upper: LogIndex, bytesMax: Int) -> [Entry]? {
        guard lower >= firstIndex else { return nil }
        guard lower < upper else { return [] }
        precondition(upper <= lastIndex + 1, "slice beyond lastIndex")
        var out: [Entry] = []
        if lower < unstableOffset {
            out = storage.entries(from: lower, to: min(upper, unstableOffset), bytesMax: bytesMax)
            if LogIndex.distance(from: lower, to: min(upper, unstableOffset)) > out.count { return out }
        }
        var bytes = out.reduce(0) { $0 + $1.sizeBytes }
        var i = max(lower, unstableOffset)
        while i < upper {
            let e = unstableEntries[LogIndex.distance(from: unstableOffset, to: i)]
            bytes += e.sizeBytes
            if !out.isEmpty && bytes > bytesMax { break }
            out.append(e)
            i = i + 1
        }
        return out
    }

    /// The snapshot a leader sends to a follower that is too far behind.
    func snapshot() -> Snapshot { unstableSnapshot ?? storage.snapshot() }

    mutating func advanceCommit(to index: LogIndex) {
        guard index > committed else { return }
        precondition(index <= lastIndex, "commit \(index) beyond last index \(lastIndex)")
        committed = index
    }

    /// Commits `index` if its entry has term `t` (only current-term entries commit by counting).
    mutating func maybeCommit(_ index: LogIndex, term t: Term) -> Bool {
        guard index > committed, term(at: index) == t else { return false }
        advanceCommit(to: index)
        return true
    }

    var hasNextCommittedEntries: Bool { committed > max(applied, firstIndex - 1) }

    func nextCommittedEntries(bytesMax: Int) -> [Entry] {
        let lower = max(applied + 1, firstIndex)
        guard committed >= lower else { return [] }
        return slice(from: lower, to: committed + 1, bytesMax: bytesMax) ?? []
    }

    mutating func markApplied(through index: LogIndex) {
        guard index > applied else { return }
        precondition(index <= committed, "applied \(index) beyond commit \(committed)")
        applied = index
    }

    /// Marks unstable entries through `index` durable, if the entry there still has term `t`
    /// (a later conflicting append may have replaced it; then it is persisted again).
    mutating func stable(to index: LogIndex, term t: Term) {
        guard index >= unstableOffset, matchTerm(index, t) else { return }
        let k = LogIndex.distance(from: unstableOffset, to: index) + 1
        guard k <= unstableEntries.count else { return }
        unstableEntries.removeFirst(k)
        unstableOffset = index + 1
    }

    mutating func stableSnapshot(to index: LogIndex) {
        if unstableSnapshot?.metadata.index == index { unstableSnapshot = nil }
    }

    /// Replaces the log with a received snapshot.
    mutating func restore(_ snapshot: Snapshot) {
        precondition(snapshot.metadata.index > committed, "restore of a snapshot behind commit")
        committed = snapshot.metadata.index
        unstableOffset = snapshot.metadata.index + 1
        unstableEntries = []
        unstableSnapshot = snapshot
    }
}
