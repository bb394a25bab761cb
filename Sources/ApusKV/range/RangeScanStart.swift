import ApusCore
import ApusStorage

/// The start of a forward scan, answered by engine probes (`StorageEngine.first`) instead of
/// an iterator: an index lookup scans one value's prefix, which holds one key or a few, and a
/// merging iterator over every memtable and level costs more to build than the few probes such
/// a scan needs. After `scanProbeKeysMax` keys the scan goes on with an iterator.
extension KVRange {
    /// How the probes at a forward scan's start ended.
    enum ScanStart {
        /// The body returned false at this key.
        case stopped([UInt8])
        /// No key is left in the span.
        case exhausted
        /// The scan goes on with an iterator from this encoded key, the start of a key's entries.
        case resume([UInt8])
    }

    /// The keys a forward scan decides by probes before it builds an iterator. Each key costs
    /// a probe (two when its newest entry is not visible) and the scan's end one more.
    static let scanProbeKeysMax = 2

    /// Calls `body` with the first keys in `[lower, upper)` (`MVCCKey` encodings at timestamp
    /// zero) visible at `readTS` to `txn`, as `scan` does, each found by probes on `snapshot`.
    /// - Returns: where the scan stands after at most `scanProbeKeysMax` keys; an entry it cannot
    ///   decode is left to the iterator (`.resume` from before it).
    func scanStart(lower: [UInt8], upper: [UInt8], readTS: Timestamp, txn: TxnID, snapshot: Snapshot,
                   visibility: (Intent, [UInt8], Snapshot) throws(KVError) -> IntentVisibility,
                   _ body: ([UInt8], [UInt8]) throws -> Bool) throws -> ScanStart {
        func first(from target: [UInt8], below bound: [UInt8], filterKey: [UInt8]?) throws(KVError)
            -> (key: [UInt8], value: [UInt8])? {
            do { return try engine.first(from: target, below: bound, filterKey: filterKey, snapshot: snapshot) } catch {
                throw KVRange.storageError(error)
            }
        }
        var from = lower
        for _ in 0..<KVRange.scanProbeKeysMax {
            guard let (encoded, stored) = try first(from: from, below: upper, filterKey: nil) else { return .exhausted }
            guard let (key, ts) = MVCCKey.decode(encoded) else { return .resume(from) }
            // The key's entries end before `next`, which is at most `upper` since key < upper.
            let next = MVCCKey.encode(key + [0], .zero)
            // nil: undecided; .some(nil): the visible version is a deletion.
            var decided = try KVRange.decide(key, ts, stored, readTS: readTS, txn: txn, snapshot: snapshot, visibility: visibility)
            if decided == nil, !readTS.isZero,
               let (older, olderStored) = try first(from: MVCCKey.encode(key, readTS), below: next, filterKey: key) {
                guard let olderTS = older.withUnsafeBytes({ MVCCKey.split($0)?.timestamp }), !olderTS.isZero else {
                    return .resume(from)
                }
                decided = .some(KVRange.versionValue(olderStored))
            }
            if case let .some(value?) = decided, try !body(key, value) { return .stopped(key) }
            from = next
        }
        return .resume(from)
    }
}
