import ApusCore

/// An ordered iterator over the user keys and values of one snapshot of the engine.
///
/// It merges the memtables and tables, shows only the newest version of each key visible at
/// its snapshot, hides deleted keys and keys under range tombstones, and keeps within its
/// bounds. Forward and backward steps may be mixed. It pins the files and memtables it reads
/// until it is released. Concurrency: one owner (not `Sendable`).
public final class StorageIterator {
    private let input: any InternalIterator
    private let snapshot: Snapshot
    private let tombstones: [RangeTombstone]
    private let comparator: KeyComparator
    private let lower: [UInt8]?
    private let upper: [UInt8]?
    private let pinned: StorageEngine.ReadState
    private var forward = true
    public private(set) var isValid = false
    /// The current user key. Meaningful only while `isValid`.
    public private(set) var key: [UInt8] = []
    /// The current value. Meaningful only while `isValid`.
    public private(set) var value: [UInt8] = []

    init(input: any InternalIterator, snapshot: Snapshot, tombstones: [RangeTombstone], options: IteratorOptions,
         comparator: KeyComparator, pinned: StorageEngine.ReadState) {
        self.input = input
        self.snapshot = snapshot
        self.tombstones = tombstones.filter { $0.sequence <= snapshot.sequence }
        self.comparator = comparator
        self.pinned = pinned
        var lower = options.lowerBound
        var upper = options.upperBound
        if let p = options.prefix {
            let (lo, hi) = StorageIterator.prefixBounds(p, comparator)
            if lower.map({ comparator.compare($0, lo) < 0 }) ?? true { lower = lo }
            if let hi, upper.map({ comparator.compare($0, hi) > 0 }) ?? true { upper = hi }
        }
        self.lower = lower
        self.upper = upper
    }

    static func prefixBounds(_ p: [UInt8], _ cmp: KeyComparator) -> ([UInt8], [UInt8]?) {
        var succ = p
        while let last = succ.last, last == 0xFF { succ.removeLast() }
        let hasSucc = !succ.isEmpty
        if hasSucc { succ[succ.count - 1] += 1 }
        switch cmp {
        case .bytewise: return (p, hasSucc ? succ : nil)
        case .mvcc: return (MVCCKey.encode(p, .zero), hasSucc ? MVCCKey.encode(succ, .zero) : nil)
        }
    }

    public func seekToFirst() throws(StorageError) {
        forward = true
        if let lower { try input.seek(InternalKey.seekTarget(lower, maxSequenceNumber)) } else { try input.seekToFirst() }
        try findNext(skipping: nil)
    }

    public func seekToLast() throws(StorageError) {
        forward = false
        if let upper { try input.seekForPrev(InternalKey.seekTarget(upper, maxSequenceNumber)) } else { try input.seekToLast() }
        try findPrev()
    }

    /// Positions at the first key >= `target` (and within bounds).
    public func seek(_ target: [UInt8]) throws(StorageError) {
        forward = true
        var t = target
        if let lower, comparator.compare(t, lower) < 0 { t = lower }
        try input.seek(InternalKey.seekTarget(t, snapshot.sequence))
        try findNext(skipping: nil)
    }

    /// Positions at the last key <= `target` (and within bounds).
    public func seekForPrev(_ target: [UInt8]) throws(StorageError) {
        forward = false
        try input.seekForPrev(InternalKey.make(target, 0, .delete))
        try findPrev()
    }

    /// - Precondition: `isValid`.
    public func next() throws(StorageError) {
        precondition(isValid, "next on a valid iterator")
        if !forward {
            // The input sits before the current key's entries; step onto them.
            forward = true
            if input.isValid { try input.next() } else { try input.seekToFirst() }
        }
        try findNext(skipping: key)
    }

    /// - Precondition: `isValid`.
    public func prev() throws(StorageError) {
        precondition(isValid, "prev on a valid iterator")
        if forward {
            // The input sits on the current key's newest entry; step before all its entries.
            forward = false
            let current = key
            while input.isValid {
                guard let p = InternalKey.parse(input.key) else { throw malformed() }
                if compareUser(p.userKey, current) < 0 { break }
                try input.prev()
            }
        }
        try findPrev()
    }

    private func malformed() -> StorageError {
        StorageError(.corruption, "malformed internal key during iteration")
    }

    private func compareUser(_ a: ArraySlice<UInt8>, _ b: [UInt8]) -> Int {
        a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in comparator.compare(pa, pb) } }
    }

    private func isCovered(_ userKey: ArraySlice<UInt8>, _ seq: SequenceNumber) -> Bool {
        guard !tombstones.isEmpty else { return false }
        return userKey.withUnsafeBytes { raw in
            tombstones.contains { $0.covers(raw, entrySequence: seq, readSequence: snapshot.sequence, comparator: comparator) }
        }
    }

    /// Moves forward to the newest visible live entry of a user key greater than `skipping`.
    private func findNext(skipping: [UInt8]?) throws(StorageError) {
        var skip = skipping
        while input.isValid {
            guard let p = InternalKey.parse(input.key) else { throw malformed() }
            if p.sequence <= snapshot.sequence && p.kind != .rangeDelete {
                if let upper, compareUser(p.userKey, upper) >= 0 { break }
                if skip == nil || compareUser(p.userKey, skip!) > 0 {
                    if p.kind == .put && !isCovered(p.userKey, p.sequence) {
                        key = Array(p.userKey)
                        value = input.value
                        isValid = true
                        return
                    }
                    skip = Array(p.userKey)  // deleted: hide older versions too
                }
            }
            try input.next()
        }
        isValid = false
    }

    /// Moves backward to the newest visible live entry of the previous user key.
    private func findPrev() throws(StorageError) {
        var haveEntry = false
        var savedKey: [UInt8] = []
        var savedValue: [UInt8] = []
        while input.isValid {
            guard let p = InternalKey.parse(input.key) else { throw malformed() }
            if p.sequence <= snapshot.sequence && p.kind != .rangeDelete {
                if let lower, compareUser(p.userKey, lower) < 0 { break }
                let inBounds = upper.map { compareUser(p.userKey, $0) < 0 } ?? true
                if inBounds {
                    if haveEntry && compareUser(p.userKey, savedKey) < 0 { break }
                    // Entries of one key arrive oldest first going backward: the last one seen wins.
                    savedKey = Array(p.userKey)
                    if p.kind == .put && !isCovered(p.userKey, p.sequence) {
                        savedValue = input.value
                        haveEntry = true
                    } else {
                        haveEntry = false
                    }
                }
            }
            try input.prev()
        }
        isValid = haveEntry
        if haveEntry {
            key = savedKey
            value = savedValue
        }
    }
}
