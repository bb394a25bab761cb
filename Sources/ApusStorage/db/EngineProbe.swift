import ApusCore

/// What a probe of one memtable or table stops at: the entries it passes and where it ends.
///
/// A probe looks for the newest entry visible at `sequence` of the first user key at or after
/// its target: entries newer than the snapshot (and range deletions, which reads take from the
/// side lists) are passed, and so is every entry of `skipping`, a user key already decided.
/// It ends at the first user key at or above `upper`. Concurrency: a value.
package struct ProbeBounds {
    let sequence: SequenceNumber
    let upper: [UInt8]
    let skipping: [UInt8]?
    let comparator: KeyComparator

    /// What a probe makes of one internal key.
    package enum Visit {
        /// Not visible, or of the skipped user key: step on.
        case pass
        /// At or past the upper bound: the source holds nothing more for this probe.
        case end
        /// The newest visible entry of its user key in this source.
        case stop(userKeyLength: Int, sequence: SequenceNumber, kind: ValueKind)
        case malformed
    }

    /// These bounds, passing every entry of `userKey` too (a probe past a decided key).
    package func skipping(_ userKey: [UInt8]) -> ProbeBounds {
        ProbeBounds(sequence: sequence, upper: upper, skipping: userKey, comparator: comparator)
    }

    /// Entries a probe looks at after its stop to learn whether anything follows in its source.
    package static let lookaheadSteps = 8

    /// What a probe's look past its stop found (`lookahead`).
    package enum Lookahead {
        /// The source holds no visible entry of a later user key below the bound.
        case end
        /// Not settled within `lookaheadSteps` entries.
        case undecided
        /// The source's next visible entry of a later user key: where `next` last moved to.
        case stopped(userKeyLength: Int, sequence: SequenceNumber, kind: ValueKind)
    }

    /// What a source holds after `userKey` below the bound, judged from at most
    /// `lookaheadSteps` entries after a stop at it: `next` moves to the following entry and
    /// returns what these bounds, passing `userKey`'s entries, make of it, or nil when the
    /// source shows no more entries there; `endIsSourceEnd` says whether that means the source
    /// ends (else: undecided).
    package func lookahead(_ userKey: [UInt8], endIsSourceEnd: Bool,
                           _ next: (ProbeBounds) throws(StorageError) -> Visit?) throws(StorageError) -> Lookahead {
        let past = skipping(userKey)
        for _ in 0..<ProbeBounds.lookaheadSteps {
            guard let visit = try next(past) else { return endIsSourceEnd ? .end : .undecided }
            switch visit {
            case .end: return .end
            case .pass: continue
            case .stop(let n, let sequence, let kind): return .stopped(userKeyLength: n, sequence: sequence, kind: kind)
            case .malformed: return .undecided
            }
        }
        return .undecided
    }

    package func visit(_ ik: UnsafeRawBufferPointer) -> Visit {
        guard let p = InternalKey.parse(ik) else { return .malformed }
        let userKey = UnsafeRawBufferPointer(rebasing: ik[0..<p.userKeyLength])
        // Entries sort by user key first: the bound ends the probe whatever their sequences.
        if upper.withUnsafeBytes({ comparator.compare(userKey, $0) }) >= 0 { return .end }
        guard p.sequence <= sequence && p.kind != .rangeDelete else { return .pass }
        if let skipping, skipping.withUnsafeBytes({ comparator.compare(userKey, $0) }) <= 0 { return .pass }
        return .stop(userKeyLength: p.userKeyLength, sequence: p.sequence, kind: p.kind)
    }
}

/// The entry a probe of one source stopped at: a user key's newest visible entry there.
package struct ProbeEntry {
    package var userKey: [UInt8]
    package var sequence: SequenceNumber
    /// A put (else a point deletion).
    package var isPut: Bool
    /// The put's value (empty for a deletion).
    package var value: [UInt8]
    /// The source holds no visible entry of a later user key below the probe's upper bound (found
    /// by looking at a few entries after this one; false when they did not settle it). A cursor
    /// asked for a target past this entry's key then knows the source's answer without a seek.
    package var nextIsEnd = false
    /// For a deletion: the source's next visible entry of a later user key below the bound,
    /// when the look past the deletion met it. A cursor moving past the deleted key (which it
    /// must, the deletion hiding the key's older entries) takes it instead of seeking again:
    /// on the MVCC layout, the version right after an intent slot that resolution deleted.
    package var following: Following?

    package struct Following {
        package var userKey: [UInt8]
        package var sequence: SequenceNumber
        package var isPut: Bool
        package var value: [UInt8]
    }

    /// What the look past this entry found, recorded: `nextIsEnd`, or a deletion's `following`
    /// entry, whose user key (`userKeyLength` bytes of the internal key) and value (for a put)
    /// `read` copies from the source's position where the look stopped.
    mutating func note(_ look: ProbeBounds.Lookahead,
                       following read: (_ userKeyLength: Int, _ isPut: Bool) -> (key: [UInt8], value: [UInt8])) {
        switch look {
        case .end: nextIsEnd = true
        case .undecided: break
        case .stopped(let n, let sequence, let kind):
            guard !isPut else { return }
            let e = read(n, kind == .put)
            following = Following(userKey: e.key, sequence: sequence, isPut: kind == .put, value: e.value)
        }
    }
}

extension StorageEngine {
    /// The first key in `[target, upper)` visible at `snapshot`, and its value: what a
    /// `makeIterator` iterator bounded so and sought to `target` would show first, found by
    /// probing each memtable and table directly instead of building a merging iterator.
    ///
    /// The memtables (newest first), the level-0 tables that overlap the bounds, and in each
    /// deeper level the file that would hold `target` (and the next ones while the probe runs
    /// on) are probed, skipping those whose filter lacks `filterKey` (whole-key bits, as
    /// `IteratorOptions.onlyKey`) or, without one, the prefix all keys in the bounds share
    /// (`StorageOptions.bloomPrefix`). The smallest user key over the sources wins, with its
    /// entry from the newest source that has it; a deletion moves the probes of the sources
    /// that stopped at that key past it. Range deletions that overlap the bounds are gathered
    /// (from the memtables and the tables holding any); a winner one of them covers hands the
    /// read to an iterator, which applies them (a probe would step through a deleted span key
    /// by key).
    ///
    /// Costs a seek per source that passes its filter, and allocates the entries found and two
    /// small arrays: a point read of a key that a few versions of might shadow (the MVCC
    /// layout's `key@0`, then `key@ts`), or the first keys of a short scan.
    /// - Parameters:
    ///   - target: the smallest user key to return.
    ///   - upper: user keys returned are below it.
    ///   - filterKey: when given, every key in the bounds is one of this key's entries (for the
    ///     MVCC comparator: its unversioned key or a version, `MVCCKey` encodings of it).
    ///   - snapshot: the read's snapshot.
    /// - Throws: `.corruption` or a file's read error.
    public func first(from target: [UInt8], below upper: [UInt8], filterKey: [UInt8]? = nil,
                      snapshot: Snapshot) throws(StorageError) -> (key: [UInt8], value: [UInt8])? {
        try first(from: target, below: upper, filterKey: filterKey, snapshot: snapshot, state: readState())
    }

    /// `first(from:below:filterKey:snapshot:)` on `state` (tests give states of their own making).
    func first(from target: [UInt8], below upper: [UInt8], filterKey: [UInt8]?, snapshot: Snapshot,
               state: ReadState) throws(StorageError) -> (key: [UInt8], value: [UInt8])? {
        try ProbeCursor(engine: self, lower: target, upper: upper, filterKey: filterKey, snapshot: snapshot, state: state)
            .first(from: target)
    }

    /// A cursor of probes over `[lower, upper)`: `first(from:)` with ascending targets answers
    /// what `first(from:below:filterKey:snapshot:)` would for each, but the sources are chosen
    /// (filters, level-0 overlap, range deletions) once, and a later call probes again only the
    /// sources whose entry lies before its target. A short scan's second key (an index lookup's
    /// proof that the value has no further entry) so costs a seek in the source that held the
    /// first key rather than a new probe of every source.
    public func probeCursor(lower: [UInt8], upper: [UInt8], filterKey: [UInt8]? = nil,
                            snapshot: Snapshot) throws(StorageError) -> ProbeCursor {
        try ProbeCursor(engine: self, lower: lower, upper: upper, filterKey: filterKey, snapshot: snapshot, state: readState())
    }

    /// The range deletions visible at `sequence` that overlap `[lower, upper)`: the memtables',
    /// and those of the tables that hold any and overlap the bounds.
    fileprivate func rangeTombstones(overlapping lower: [UInt8], _ upper: [UInt8], state: ReadState,
                                 sequence: SequenceNumber) throws(StorageError) -> [RangeTombstone] {
        let cmp = options.comparator
        func overlaps(_ t: RangeTombstone) -> Bool {
            t.sequence <= sequence && cmp.compare(t.start, upper) < 0 && cmp.compare(lower, t.end) < 0
        }
        var out: [RangeTombstone] = []
        for m in state.memtables where m.hasRangeTombstones { out += m.rangeTombstones().filter(overlaps) }
        let v = state.version
        for f in state.tablesWithRangeTombstones where v.overlaps(f, lower: lower[...], upper: upper[...]) {
            out += try tableCache.reader(fileNumber: f.number).rangeTombstones.filter(overlaps)
        }
        return out
    }

    /// One source of a probe: a memtable, a level-0 table, or a sorted level.
    enum ProbeSource {
        case memtable(Memtable)
        case table(TableReader)
        case level(Int)
    }

    /// The entry `source` holds at or after the internal key `target` that `bounds` stops at.
    /// A level's files are probed from the one that would hold `target` on while they start
    /// below the upper bound, each tested against `filter` first.
    fileprivate func probe(_ source: ProbeSource, _ target: [UInt8], _ bounds: ProbeBounds, _ v: Version,
                       _ filter: ReadFilter?, _ skipped: inout Int) throws(StorageError) -> ProbeEntry? {
        // `withUnsafeBytes` rethrows untyped errors; carry the typed one out in a Result.
        func probeRaw(_ body: (UnsafeRawBufferPointer) throws(StorageError) -> ProbeEntry?) throws(StorageError) -> ProbeEntry? {
            let result: Result<ProbeEntry?, StorageError> = target.withUnsafeBytes { raw in
                do throws(StorageError) { return .success(try body(raw)) } catch { return .failure(error) }
            }
            return try result.get()
        }
        switch source {
        case .memtable(let m):
            return try probeRaw { raw throws(StorageError) in try m.firstVisible(atOrAfter: raw, bounds, group: filter) }
        case .table(let r):
            return try probeRaw { raw throws(StorageError) in try r.firstVisible(atOrAfter: raw, bounds) }
        case .level(let level):
            let files = v.levels[level]
            var i = v.findFile(level: level, target: target)
            while i < files.count && v.compareUser(files[i].smallestUserKey, bounds.upper[...]) < 0 {
                let r = try tableCache.reader(fileNumber: files[i].number)
                i += 1
                if let filter, !filter.mayMatch(r) {
                    skipped += 1
                    continue
                }
                if var e = try probeRaw({ raw throws(StorageError) in try r.firstVisible(atOrAfter: raw, bounds) }) {
                    // Nothing after it in its file: nor in the level if no later file starts below the bound.
                    if e.nextIsEnd && i < files.count && v.compareUser(files[i].smallestUserKey, bounds.upper[...]) < 0 {
                        e.nextIsEnd = false
                    }
                    return e
                }
            }
            return nil
        }
    }
}

/// Probes of one read state over `[lower, upper)` at ascending targets (see
/// `StorageEngine.probeCursor`). Each source keeps the entry its last probe stopped at: the
/// newest visible entry of the first user key at or after that probe's target, which is still
/// the source's answer for any later target at or before it. A source the filter or the bounds
/// left out holds nothing in `[lower, upper)`, so it holds nothing from a later target either;
/// the range deletions gathered for the whole span include those of any part of it.
///
/// Concurrency: not thread-safe; one reader uses it (its read state and snapshot stay pinned
/// while it lives).
public final class ProbeCursor {
    private let engine: StorageEngine
    private let upper: [UInt8]
    private let snapshot: Snapshot
    private let state: StorageEngine.ReadState
    private let filter: StorageEngine.ReadFilter?
    private let tombstones: [RangeTombstone]
    private let sources: [StorageEngine.ProbeSource]
    /// Each source's entry from its last probe (nil: none in the bounds), and that probe's target.
    private var found: [ProbeEntry?]
    private var target: [UInt8]?
    private let filterKey: [UInt8]?

    init(engine: StorageEngine, lower: [UInt8], upper: [UInt8], filterKey: [UInt8]?, snapshot: Snapshot,
         state: StorageEngine.ReadState) throws(StorageError) {
        self.engine = engine
        self.upper = upper
        self.snapshot = snapshot
        self.state = state
        self.filterKey = filterKey
        let cmp = engine.options.comparator
        guard cmp.compare(lower, upper) < 0 else {
            filter = nil
            tombstones = []
            sources = []
            found = []
            return
        }
        tombstones = try engine.rangeTombstones(overlapping: lower, upper, state: state, sequence: snapshot.sequence)
        let filter = engine.readFilter(onlyKey: filterKey, lower: lower, upper: upper)
        self.filter = filter
        var skipped = 0
        // The sources newest first; level 0 and the memtables are filtered once here, a deeper
        // level per file as a probe reaches it.
        var sources: [StorageEngine.ProbeSource] = []
        sources.reserveCapacity(state.memtables.count + state.version.levels[0].count + StorageOptions.levelCount - 1)
        for m in state.memtables {
            if let filter, !filter.mayMatch(m) { skipped += 1 } else { sources.append(.memtable(m)) }
        }
        let v = state.version
        for f in v.levels[0] where v.overlaps(f, lower: lower[...], upper: upper[...]) {
            let reader = try engine.tableCache.reader(fileNumber: f.number)
            if let filter, !filter.mayMatch(reader) { skipped += 1 } else { sources.append(.table(reader)) }
        }
        for level in 1..<StorageOptions.levelCount where !v.levels[level].isEmpty { sources.append(.level(level)) }
        self.sources = sources
        found = []
        count(skipped)
    }

    private func count(_ skipped: Int) {
        guard skipped > 0 else { return }
        let counters = engine.counters
        if filterKey == nil { counters.add(counters.prefixFilterSkips, skipped) } else { counters.add(counters.keyFilterSkips, skipped) }
    }

    /// The first key in `[target, upper)` visible at the snapshot, and its value. `target` is
    /// at or after the cursor's lower bound; a target before an earlier call's probes every
    /// source again (correct, without the savings).
    public func first(from target: [UInt8]) throws(StorageError) -> (key: [UInt8], value: [UInt8])? {
        let cmp = engine.options.comparator
        guard !sources.isEmpty, cmp.compare(target, upper) < 0 else { return nil }
        if let previous = self.target, cmp.compare(previous, target) > 0 { found = [] }
        self.target = target
        var skipped = 0
        defer { count(skipped) }
        let v = state.version
        let fromTarget = ProbeBounds(sequence: snapshot.sequence, upper: upper, skipping: nil, comparator: cmp)
        let seekTarget = InternalKey.seekTarget(target, snapshot.sequence)
        if found.isEmpty {
            found.reserveCapacity(sources.count)
            for s in sources { found.append(try engine.probe(s, seekTarget, fromTarget, v, filter, &skipped)) }
        } else {
            for i in found.indices {
                guard let e = found[i], cmp.compare(e.userKey, target) < 0 else { continue }
                // Past the source's last key in the bounds: nothing there from the target on.
                found[i] = e.nextIsEnd ? nil : try engine.probe(sources[i], seekTarget, fromTarget, v, filter, &skipped)
            }
        }
        while true {
            var best = -1
            for i in found.indices {
                guard let e = found[i] else { continue }
                guard best >= 0, let b = found[best] else { best = i; continue }
                let c = cmp.compare(e.userKey, b.userKey)
                if c < 0 || (c == 0 && e.sequence > b.sequence) { best = i }
            }
            guard best >= 0, let winner = found[best] else { return nil }
            if !tombstones.isEmpty, winner.userKey.withUnsafeBytes({ k in
                tombstones.contains { $0.covers(k, entrySequence: winner.sequence, readSequence: snapshot.sequence, comparator: cmp) }
            }) {
                // A range deletion covers it: an iterator applies them (a probe would step
                // through a deleted span key by key).
                let it = try engine.makeIterator(IteratorOptions(lowerBound: target, upperBound: upper, onlyKey: filterKey),
                                                 snapshot: snapshot, state: state)
                try it.seek(target)
                return it.isValid ? (it.key, it.value) : nil
            }
            if winner.isPut { return (winner.userKey, winner.value) }
            // Deleted: the key's older entries are hidden too; the sources at it probe on.
            let pastKey = fromTarget.skipping(winner.userKey)
            let pastTarget = InternalKey.seekTarget(winner.userKey, 0)
            for i in found.indices {
                guard let e = found[i], cmp.compare(e.userKey, winner.userKey) == 0 else { continue }
                if let f = e.following {
                    // Met by the look past this deletion: what a probe past the key returns.
                    found[i] = ProbeEntry(userKey: f.userKey, sequence: f.sequence, isPut: f.isPut, value: f.value)
                } else {
                    found[i] = try engine.probe(sources[i], pastTarget, pastKey, v, filter, &skipped)
                }
            }
        }
    }
}
