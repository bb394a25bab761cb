import ApusCore

/// An ordered iterator over the user keys and values of one snapshot of the engine.
///
/// It merges the memtables and tables, shows only the newest version of each key visible at
/// its snapshot, hides deleted keys and keys under range tombstones, and keeps within its
/// bounds. Forward and backward steps may be mixed. It pins the files and memtables it reads
/// until it is released. Concurrency: one owner (not `Sendable`).
public final class StorageIterator {
    private let input: MergingIterator
    private let snapshot: Snapshot
    private let tombstones: [RangeTombstone]
    private let comparator: KeyComparator
    private let lower: [UInt8]?
    private let upper: [UInt8]?
    private let pinned: StorageEngine.ReadState
    private var forward = true
    // The position's state is private, behind read-only accessors: a public stored property
    // could be accessed from other modules directly, so every access to it here would be a
    // dynamic exclusivity check.
    private var valid = false
    private var currentKey: [UInt8] = []
    private var currentValue: [UInt8] = []

    /// Whether the iterator is on an entry.
    public var isValid: Bool { valid }
    /// The current user key. Meaningful only while `isValid`.
    public var key: [UInt8] { currentKey }
    /// The current value. Meaningful only while `isValid`.
    public var value: [UInt8] { currentValue }

    init(input: MergingIterator, snapshot: Snapshot, tombstones: [RangeTombstone], options: IteratorOptions,
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
        if let k = options.onlyKey {
            let (lo, hi) = StorageIterator.keyBounds(k, comparator)
            if lower.map({ comparator.compare($0, lo) < 0 }) ?? true { lower = lo }
            if upper.map({ comparator.compare($0, hi) > 0 }) ?? true { upper = hi }
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

    /// The bounds of one key's entries: the key and the next key (`k + [0]`); for the MVCC
    /// comparator their unversioned encodings, which sort before their versions.
    static func keyBounds(_ k: [UInt8], _ cmp: KeyComparator) -> ([UInt8], [UInt8]) {
        switch cmp {
        case .bytewise: return (k, k + [0])
        case .mvcc: return (MVCCKey.encode(k, .zero), MVCCKey.encode(k + [0], .zero))
        }
    }

    public func seekToFirst() throws(StorageError) {
        forward = true
        if let lower { try input.seek(InternalKey.seekTarget(lower, maxSequenceNumber)) } else { try input.seekToFirst() }
        try findNext(skippingCurrent: false)
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
        try findNext(skippingCurrent: false)
    }

    /// Positions at the last key <= `target` (and within bounds).
    public func seekForPrev(_ target: [UInt8]) throws(StorageError) {
        forward = false
        try input.seekForPrev(InternalKey.make(target, 0, .delete))
        try findPrev()
    }

    /// - Precondition: `isValid`.
    public func next() throws(StorageError) {
        precondition(valid, "next on a valid iterator")
        if !forward {
            // The input sits before the current key's entries; step onto them.
            forward = true
            if input.isValid { try input.next() } else { try input.seekToFirst() }
        }
        try findNext(skippingCurrent: true)
    }

    /// - Precondition: `isValid`.
    public func prev() throws(StorageError) {
        precondition(valid, "prev on a valid iterator")
        if forward {
            // The input sits on the current key's newest entry; step before all its entries.
            forward = false
            let current = currentKey
            while input.isValid {
                let before = input.withKey { (ik: UnsafeRawBufferPointer) -> Bool? in
                    guard let p = InternalKey.parse(ik) else { return nil }
                    return compareUser(UnsafeRawBufferPointer(rebasing: ik[0..<p.userKeyLength]), current) < 0
                }
                guard let before else { throw malformed() }
                if before { break }
                try input.prev()
            }
        }
        try findPrev()
    }

    private func malformed() -> StorageError {
        StorageError(.corruption, "malformed internal key during iteration")
    }

    @inline(__always)
    private func compareUser(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Int {
        b.withUnsafeBytes { pb in comparator.compare(a, pb) }
    }

    private func isCovered(_ userKey: UnsafeRawBufferPointer, _ seq: SequenceNumber) -> Bool {
        guard !tombstones.isEmpty else { return false }
        return tombstones.contains { $0.covers(userKey, entrySequence: seq, readSequence: snapshot.sequence, comparator: comparator) }
    }

    /// What `findNext` makes of one input entry.
    private enum Visit {
        /// Not visible, or an older version of a key already passed: step on.
        case pass
        /// The newest visible entry of its key is a deletion (or is range-deleted): its user key
        /// is now the one to skip; step on.
        case hide
        /// At or past the upper bound: the iteration ends.
        case end
        /// A live entry: its user key is now in `found`.
        case found
        case malformed
    }

    /// Moves forward to the newest visible live entry of a user key greater than the current
    /// `key` (when `skippingCurrent`). Input keys are read borrowed; only a returned entry's user
    /// key and value are copied. The loop keeps its state in locals: a property of this class
    /// touched per entry would cost a dynamic exclusivity check each time.
    private func findNext(skippingCurrent: Bool) throws(StorageError) {
        let input = self.input, upper = self.upper, readSequence = snapshot.sequence, comparator = self.comparator
        // Entries of user keys up to `current` (when skipping it), or up to `hidden` once a
        // deleted key was passed, are older versions to skip. The current key's buffer is moved
        // out and back, so that a key found is copied into its storage (no allocation per entry
        // while the caller keeps no copy of `key`).
        var current: [UInt8] = []
        swap(&current, &currentKey)
        defer { currentKey = current }
        var hidden: [UInt8] = []
        var haveHidden = false
        while input.isValid {
            let visit = input.withKey { (ik: UnsafeRawBufferPointer) -> Visit in
                guard let p = InternalKey.parse(ik) else { return .malformed }
                guard p.sequence <= readSequence && p.kind != .rangeDelete else { return .pass }
                let userKey = UnsafeRawBufferPointer(rebasing: ik[0..<p.userKeyLength])
                if let upper, upper.withUnsafeBytes({ comparator.compare(userKey, $0) }) >= 0 { return .end }
                if haveHidden {
                    if hidden.withUnsafeBytes({ comparator.compare(userKey, $0) }) <= 0 { return .pass }
                } else if skippingCurrent && current.withUnsafeBytes({ comparator.compare(userKey, $0) }) <= 0 {
                    return .pass
                }
                if p.kind == .put && !isCovered(userKey, p.sequence) {
                    current.removeAll(keepingCapacity: true)
                    current.append(contentsOf: userKey)
                    return .found
                }
                // Deleted: hide older versions too.
                hidden.removeAll(keepingCapacity: true)
                hidden.append(contentsOf: userKey)
                haveHidden = true
                return .hide
            }
            switch visit {
            case .pass, .hide: break
            case .end:
                valid = false
                return
            case .found:
                input.copyValue(into: &currentValue)
                valid = true
                return
            case .malformed: throw malformed()
            }
            try input.next()
        }
        valid = false
    }

    /// What `findPrev` makes of one input entry.
    private enum BackwardVisit {
        /// Not visible or out of bounds: step on.
        case pass
        /// A live entry (so far the newest of its key): its user key is now in `savedKey`.
        case live
        /// A deletion or range-deleted entry (so far the newest of its key).
        case dead
        /// Before the lower bound, or a key before a live one found: the step ends.
        case end
        case malformed
    }

    /// Moves backward to the newest visible live entry of the previous user key.
    private func findPrev() throws(StorageError) {
        var haveEntry = false
        var savedKey: [UInt8] = []
        var savedValue: [UInt8] = []
        scan: while input.isValid {
            let visit = input.withKey { (ik: UnsafeRawBufferPointer) -> BackwardVisit in
                guard let p = InternalKey.parse(ik) else { return .malformed }
                guard p.sequence <= snapshot.sequence && p.kind != .rangeDelete else { return .pass }
                let userKey = UnsafeRawBufferPointer(rebasing: ik[0..<p.userKeyLength])
                if let lower, compareUser(userKey, lower) < 0 { return .end }
                if let upper, compareUser(userKey, upper) >= 0 { return .pass }
                if haveEntry && compareUser(userKey, savedKey) < 0 { return .end }
                // Entries of one key arrive oldest first going backward: the last one seen wins.
                savedKey.removeAll(keepingCapacity: true)
                savedKey.append(contentsOf: userKey)
                return p.kind == .put && !isCovered(userKey, p.sequence) ? .live : .dead
            }
            switch visit {
            case .pass: break
            case .live:
                savedValue = input.value
                haveEntry = true
            case .dead: haveEntry = false
            case .end: break scan
            case .malformed: throw malformed()
            }
            try input.prev()
        }
        valid = haveEntry
        if haveEntry {
            currentKey = savedKey
            currentValue = savedValue
        }
    }
}
