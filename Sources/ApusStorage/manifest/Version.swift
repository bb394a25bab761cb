import ApusCore

/// An immutable snapshot of the LSM tree's files, level by level.
///
/// Level 0 holds flushed memtables, possibly overlapping, newest first (by largest sequence).
/// Levels 1 and deeper hold files sorted by key with disjoint ranges in internal-key order.
/// Concurrency: immutable, shared freely; readers pin it by holding a reference.
final class Version: @unchecked Sendable {
    let levels: [[TableFile]]
    let comparator: KeyComparator

    init(levels: [[TableFile]], comparator: KeyComparator) {
        precondition(levels.count == StorageOptions.levelCount, "a version has every level")
        self.levels = levels
        self.comparator = comparator
        #if INVARIANTS
        checkInvariants()
        #endif
    }

    static func empty(_ comparator: KeyComparator) -> Version {
        Version(levels: Array(repeating: [], count: StorageOptions.levelCount), comparator: comparator)
    }

    var allFiles: [TableFile] { levels.flatMap { $0 } }

    func levelBytes(_ level: Int) -> Int { levels[level].reduce(0) { $0 + $1.fileBytes } }

    /// Files of `level` whose user-key range intersects `[lower, upper]` (inclusive; nil is unbounded).
    func overlapping(level: Int, lower: ArraySlice<UInt8>?, upper: ArraySlice<UInt8>?) -> [TableFile] {
        levels[level].filter { f in
            if let upper, compareUser(f.smallestUserKey, upper) > 0 { return false }
            if let lower, compareUser(f.largestUserKey, lower) < 0 { return false }
            return true
        }
    }

    /// In a sorted level, the index of the first file whose largest internal key is >= `target`.
    func findFile(level: Int, target: [UInt8]) -> Int {
        precondition(level > 0, "level 0 is not sorted")
        let files = levels[level]
        var lo = 0, hi = files.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if comparator.compareInternal(files[mid].largest, target) < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    func compareUser(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Int {
        a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in comparator.compare(pa, pb) } }
    }

    /// Whether table `f`'s user keys may fall in `[lower, upper)` (nil: unbounded on that side).
    func overlaps(_ f: TableFile, lower: ArraySlice<UInt8>?, upper: ArraySlice<UInt8>?) -> Bool {
        if let lower, compareUser(f.largestUserKey, lower) < 0 { return false }
        if let upper, compareUser(f.smallestUserKey, upper) >= 0 { return false }
        return true
    }

    /// Checks the ordering invariants of every level (behind INVARIANTS: O(files)).
    func checkInvariants() {
        for level in 1..<levels.count {
            let files = levels[level]
            for f in files {
                precondition(comparator.compareInternal(f.smallest, f.largest) <= 0, "file \(f.number) bounds ordered")
            }
            for i in files.indices.dropFirst() {
                precondition(comparator.compareInternal(files[i - 1].largest, files[i].smallest) < 0,
                             "level \(level) files \(files[i - 1].number) and \(files[i].number) are disjoint and sorted")
            }
        }
    }

    /// Applies an edit, producing the next version.
    func applying(_ edit: VersionEdit) -> Version {
        var levels = self.levels
        for d in edit.deletedFiles {
            levels[d.level].removeAll { $0.number == d.number }
        }
        for n in edit.newFiles {
            levels[n.level].append(n.file)
        }
        levels[0].sort { $0.largestSequence > $1.largestSequence }
        for level in 1..<levels.count {
            levels[level].sort { comparator.compareInternal($0.smallest, $1.smallest) < 0 }
        }
        return Version(levels: levels, comparator: comparator)
    }
}
