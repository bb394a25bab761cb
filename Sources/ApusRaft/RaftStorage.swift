/// The persistence protocol of a Raft node and its in-memory implementation.
///
/// The core only reads storage (`firstIndex`, `lastIndex`, `term(at:)`, `entries`, `snapshot`);
/// the shell writes it while acting on a `Ready` (`applySnapshot`, `append`, `setHardState`,
/// then `sync`) and, on the application's schedule, `createSnapshot` and `compact`.
///
/// Reads are not throwing: an implementation over a disk must keep what the core reads (the
/// log tail, terms) readable without failure, or stop the process, because the core cannot make
/// progress on a log it cannot read. Writes throw `RaftError` (`.io`), and the shell must not
/// send the `Ready`'s messages when one fails.
package protocol RaftStorage: AnyObject {
    /// The hard state and membership to restart from.
    func initialState() -> (HardState, Membership)
    /// Index of the first entry still held; at most `snapshot().metadata.index + 1` (compaction
    /// may keep some entries before the snapshot, so that slow followers avoid a snapshot).
    var firstIndex: LogIndex { get }
    /// Index of the last entry held, or the snapshot index when the log is empty.
    var lastIndex: LogIndex { get }
    /// The term at `index`, for `firstIndex - 1 ... lastIndex`; nil outside that range.
    func term(at index: LogIndex) -> Term?
    /// Entries in `lower ..< upper`, at most `bytesMax` bytes but always at least one entry.
    /// - Precondition: `firstIndex <= lower`, `upper <= lastIndex + 1`.
    func entries(from lower: LogIndex, to upper: LogIndex, bytesMax: Int) -> [Entry]
    /// The latest snapshot (index 0 when none was taken).
    func snapshot() -> Snapshot

    /// Appends `entries`, first discarding any held entries at or after `entries[0].index`.
    func append(_ entries: [Entry]) throws(RaftError)
    func setHardState(_ state: HardState) throws(RaftError)
    /// Replaces the whole log with `snapshot` (a snapshot received from the leader).
    func applySnapshot(_ snapshot: Snapshot) throws(RaftError)
    /// Makes every write above durable. Messages of a `Ready` are sent only after it returns.
    func sync() throws(RaftError)
    /// Records an application snapshot at `index` (at most the applied index).
    func createSnapshot(at index: LogIndex, membership: Membership, data: [UInt8]) throws(RaftError)
    /// Discards entries up to and including `index` (at most the snapshot index).
    func compact(through index: LogIndex) throws(RaftError)
}

/// Raft storage in memory, for tests and the simulator.
///
/// Concurrency: one owner (not `Sendable`). Every write is immediately "durable": a simulator
/// models lost unsynced writes by not calling the writes of a `Ready` that a crash interrupted.
package final class MemoryStorage: RaftStorage {
    package private(set) var hardState: HardState
    private var snap: Snapshot
    /// `entries[0]` is a dummy at the snapshot index carrying the snapshot term.
    private var log: [Entry]

    package init(membership: Membership) {
        hardState = HardState()
        snap = Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, membership: membership), data: [])
        log = [Entry(term: 0, index: 0)]
    }

    package func initialState() -> (HardState, Membership) { (hardState, currentMembership) }

    /// The membership of the snapshot; membership changes in the log after it are replayed by
    /// the core as they are applied again.
    package var currentMembership: Membership { snap.metadata.membership }

    private var offset: LogIndex { log[0].index }
    package var firstIndex: LogIndex { offset + 1 }
    package var lastIndex: LogIndex { offset + (log.count - 1) }

    package func term(at index: LogIndex) -> Term? {
        guard index >= offset, index <= lastIndex else { return nil }
        return log[LogIndex.distance(from: offset, to: index)].term
    }

    package func entries(from lower: LogIndex, to upper: LogIndex, bytesMax: Int) -> [Entry] {
        precondition(lower >= firstIndex, "entries below firstIndex")
        precondition(upper <= lastIndex + 1, "entries beyond lastIndex")
        var out: [Entry] = []
        var bytes = 0
        var i = lower
        while i < upper {
            let e = log[LogIndex.distance(from: offset, to: i)]
            bytes += e.sizeBytes
            if !out.isEmpty && bytes > bytesMax { break }
            out.append(e)
            i = i + 1
        }
        return out
    }

    package func snapshot() -> Snapshot { snap }

    package func append(_ entries: [Entry]) throws(RaftError) {
        guard var first = entries.first?.index else { return }
        var ents = entries[...]
        // Entries already covered by the snapshot are skipped.
        while first <= offset, !ents.isEmpty {
            ents = ents.dropFirst()
            first = first + 1
        }
        guard let start = ents.first?.index else { return }
        guard start <= lastIndex + 1 else {
            throw RaftError(.unavailable, "append at \(start) leaves a gap after \(lastIndex)")
        }
        log.removeSubrange((LogIndex.distance(from: offset, to: start))...)
        log.append(contentsOf: ents)
    }

    package func setHardState(_ state: HardState) throws(RaftError) { hardState = state }

    package func applySnapshot(_ snapshot: Snapshot) throws(RaftError) {
        guard snapshot.metadata.index > snap.metadata.index else { return }
        snap = snapshot
        log = [Entry(term: snapshot.metadata.term, index: snapshot.metadata.index)]
    }

    package func sync() throws(RaftError) {}

    package func createSnapshot(at index: LogIndex, membership: Membership, data: [UInt8]) throws(RaftError) {
        guard index > snap.metadata.index else { return }
        guard index <= lastIndex, let t = term(at: index) else {
            throw RaftError(.unavailable, "snapshot at \(index) beyond last index \(lastIndex)")
        }
        snap = Snapshot(metadata: SnapshotMetadata(index: index, term: t, membership: membership), data: data)
    }

    package func compact(through index: LogIndex) throws(RaftError) {
        guard index > offset else { return }
        guard index <= snap.metadata.index else {
            throw RaftError(.unavailable, "compact through \(index) beyond snapshot \(snap.metadata.index)")
        }
        let t = log[LogIndex.distance(from: offset, to: index)].term
        log.removeSubrange(0..<LogIndex.distance(from: offset, to: index))
        log[0] = Entry(term: t, index: index)
    }
}
