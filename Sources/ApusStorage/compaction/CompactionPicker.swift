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
struct CompactionPicker {
    let options: StorageOptions

    func targetBytes(level: Int) -> Double {
        precondition(level >= 1, "level 0 is scored by file count")
        var t = Double(options.level1BytesMax)
        for _ in 1..<level { t *= Double(options.levelSizeMultiplier) }
        return t
    }

    /// The score of each level; the last level never compacts.
    func scores(_ v: Version) -> [Double] {
        var s = [Double](repeating: 0, count: StorageOptions.levelCount)
        s[0] = Double(v.levels[0].count) / Double(options.level0CompactionTrigger)
        for level in 1..<(StorageOptions.levelCount - 1) {
            s[level] = Double(v.levelBytes(level)) / targetBytes(level: level)
        }
        return s
    }

    func needsCompaction(_ v: Version) -> Bool { scores(v).contains { $0 >= 1 } }

    /// Picks the next compaction, or nil if no level is over its target.
    func pick(_ v: Version, cursors: inout [[UInt8]?]) -> CompactionPlan? {
        let s = scores(v)
        guard let best = s.indices.max(by: { s[$0] < s[$1] }), s[best] >= 1 else { return nil }
        return plan(v, level: best, cursors: &cursors)
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
