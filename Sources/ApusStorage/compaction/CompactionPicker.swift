/// What one compaction (or trivial move) will do.
struct CompactionPlan {
    /// The level the inputs come from.
    let level: Int
    let inputs: [TableFile]
    /// Overlapping files of `level + 1`.
    let nextInputs: [TableFile]
    var outputLevel: Int { level + 1 }
    /// No file deeper than `outputLevel` overlaps the inputs' key range: deletions and
    /// tombstones visible to every reader can be dropped.
    let isBottommost: Bool
    /// Manual compactions rewrite every file (so that garbage collection and tombstones apply).
    var allowsTrivialMove = true
    /// Picked for a deletion-dense file (`CompactionPicker.isDeletionDense`), with no level over
    /// its target.
    var isForDeletions = false
    /// One input file, nothing to merge with: the file moves down by a manifest edit alone.
    var isTrivialMove: Bool {
        allowsTrivialMove && inputs.count == 1 && nextInputs.isEmpty && inputs[0].rangeTombstoneCount == 0
    }
    var inputBytes: Int { (inputs + nextInputs).reduce(0) { $0 + $1.fileBytes } }
}

/// Leveled compaction picking: a pure function of a version, the options and a per-level cursor.
///
/// Level 0 is scored by file count against `level0CompactionTrigger`; level n >= 1 by bytes
/// against `level1BytesMax * multiplier^(n-1)`. The level with the highest score >= 1 compacts.
/// Within a level >= 1, files are taken round-robin after the cursor (the largest key of the
/// previous pick), as LevelDB does, so that every key range gets its turn.
///
/// Deletion-dense files (`isDeletionDense`) are compacted sooner, because every read of their
/// key range probes both them and the data they shadow: one counts twice toward level 0's
/// trigger; with no level over its target, one on a level >= 1 moves down alone; and when the
/// engine is idle (no writes since the last look), level 0 compacts for one. Each such
/// compaction moves the deletions one level down, where they meet what they shadow (both go)
/// or, at the bottommost level, go themselves; so a file is rewritten at most once per level.
struct CompactionPicker {
    let options: StorageOptions

    /// At least a quarter of the file's point entries, and `options.deletionCompactionMinimum`,
    /// are point deletions, and every reader sees all of them (its newest sequence is at or
    /// below `smallestSnapshot`), so a compaction at the bottommost level can drop them. The
    /// resolved intents of a large MVCC transaction leave such files (the intent slot
    /// `key@0` deleted for every key), and so does a bulk DELETE on the sequence layout.
    func isDeletionDense(_ f: TableFile, smallestSnapshot: SequenceNumber) -> Bool {
        f.pointDeletionCount >= options.deletionCompactionMinimum && f.pointDeletionCount * 4 >= f.entryCount
            && f.largestSequence <= smallestSnapshot
    }

    func targetBytes(level: Int) -> Double {
        precondition(level >= 1, "level 0 is scored by file count")
        var t = Double(options.level1BytesMax)
        for _ in 1..<level { t *= Double(options.levelSizeMultiplier) }
        return t
    }

    /// The score of each level; the last level never compacts. A deletion-dense level-0 file
    /// counts twice.
    func scores(_ v: Version, smallestSnapshot: SequenceNumber) -> [Double] {
        var s = [Double](repeating: 0, count: StorageOptions.levelCount)
        let dense = v.levels[0].reduce(0) { $0 + (isDeletionDense($1, smallestSnapshot: smallestSnapshot) ? 1 : 0) }
        s[0] = Double(v.levels[0].count + dense) / Double(options.level0CompactionTrigger)
        for level in 1..<(StorageOptions.levelCount - 1) {
            s[level] = Double(v.levelBytes(level)) / targetBytes(level: level)
        }
        return s
    }

    /// Picks the next compaction: the level most over its target, else a deletion-dense file
    /// (see the type's comment); nil if there is none. `smallestSnapshot` is the oldest
    /// sequence a reader may read at; `idle`, whether nothing was written since the last pick.
    func pick(_ v: Version, cursors: inout [[UInt8]?], smallestSnapshot: SequenceNumber = 0,
              idle: Bool = false) -> CompactionPlan? {
        let s = scores(v, smallestSnapshot: smallestSnapshot)
        if let best = s.indices.max(by: { s[$0] < s[$1] }), s[best] >= 1 {
            return plan(v, level: best, cursors: &cursors)
        }
        for level in 1..<(StorageOptions.levelCount - 1) {
            if let f = v.levels[level].first(where: { isDeletionDense($0, smallestSnapshot: smallestSnapshot) }) {
                var p = plan(v, level: level, inputs: [f])
                p.allowsTrivialMove = !p.isBottommost  // a bottommost move would keep the deletions
                p.isForDeletions = true
                return p
            }
        }
        if idle, v.levels[0].contains(where: { isDeletionDense($0, smallestSnapshot: smallestSnapshot) }) {
            var p = plan(v, level: 0, inputs: v.levels[0])
            p.isForDeletions = true
            return p
        }
        return nil
    }

    func plan(_ v: Version, level: Int, cursors: inout [[UInt8]?]) -> CompactionPlan? {
        precondition(level < StorageOptions.levelCount - 1, "the last level has no level below")
        var inputs: [TableFile]
        if level == 0 {
            inputs = v.levels[0]
        } else {
            let files = v.levels[level]
            guard !files.isEmpty else { return nil }
            let start = cursors[level].flatMap { c in files.firstIndex { v.comparator.compareInternal($0.smallest, c) > 0 } } ?? 0
            inputs = [files[start]]
            cursors[level] = files[start].largest
        }
        guard !inputs.isEmpty else { return nil }
        return plan(v, level: level, inputs: inputs)
    }

    /// The compaction of `inputs` (files of `level`) with the files of `level + 1` they overlap.
    func plan(_ v: Version, level: Int, inputs: [TableFile]) -> CompactionPlan {
        let (lower, upper) = userRange(v, inputs)
        let next = v.overlapping(level: level + 1, lower: lower, upper: upper)
        let (allLower, allUpper) = userRange(v, inputs + next)
        var bottommost = true
        for deeper in (level + 2)..<StorageOptions.levelCount where !v.overlapping(level: deeper, lower: allLower, upper: allUpper).isEmpty {
            bottommost = false
        }
        return CompactionPlan(level: level, inputs: inputs, nextInputs: next, isBottommost: bottommost)
    }

    /// A plan that compacts every file of `level` into `level + 1` (manual compaction).
    func planWholeLevel(_ v: Version, level: Int) -> CompactionPlan? {
        let inputs = v.levels[level]
        guard !inputs.isEmpty else { return nil }
        let (lower, upper) = userRange(v, inputs)
        let next = v.overlapping(level: level + 1, lower: lower, upper: upper)
        let (allLower, allUpper) = userRange(v, inputs + next)
        var bottommost = true
        for deeper in (level + 2)..<StorageOptions.levelCount where !v.overlapping(level: deeper, lower: allLower, upper: allUpper).isEmpty {
            bottommost = false
        }
        return CompactionPlan(level: level, inputs: inputs, nextInputs: next, isBottommost: bottommost,
                              allowsTrivialMove: false)
    }

    func userRange(_ v: Version, _ files: [TableFile]) -> (ArraySlice<UInt8>, ArraySlice<UInt8>) {
        precondition(!files.isEmpty, "a range of at least one file")
        var lo = files[0].smallestUserKey, hi = files[0].largestUserKey
        for f in files.dropFirst() {
            if v.compareUser(f.smallestUserKey, lo) < 0 { lo = f.smallestUserKey }
            if v.compareUser(f.largestUserKey, hi) > 0 { hi = f.largestUserKey }
        }
        return (lo, hi)
    }
}
