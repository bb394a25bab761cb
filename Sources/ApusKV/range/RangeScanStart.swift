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

    /// The keys a forward scan decides by probes before it builds an iterator. The probes share
    /// one `ProbeCursor`: the first probes every source the filters let through, each later one
    /// (a key's older version, the next key, the scan's end) only the sources whose entry lies
    /// before its target, usually the one that held the previous key.
    static let scanProbeKeysMax = 2

    /// Calls `body` with the first keys in `[lower, upper)` (`MVCCKey` encodings at timestamp
    /// zero) visible at `readTS` to `txn`, as `scan` does, each found by probes on `snapshot`.
    /// - Returns: where the scan stands after at most `scanProbeKeysMax` keys; an entry it cannot
    ///   decode is left to the iterator (`.resume` from before it).
    func scanStart(lower: [UInt8], upper: [UInt8], readTS: Timestamp, txn: TxnID, snapshot: Snapshot,
                   visibility: (Intent, [UInt8], Snapshot) throws(KVError) -> IntentVisibility,
                   _ body: ([UInt8], [UInt8]) throws -> Bool) throws -> ScanStart {
        let cursor: ProbeCursor
        do { cursor = try engine.probeCursor(lower: lower, upper: upper, snapshot: snapshot) } catch { throw KVRange.storageError(error) }
        func first(from target: [UInt8]) throws(KVError) -> (key: [UInt8], value: [UInt8])? {
            do { return try cursor.first(from: target) } catch { throw KVRange.storageError(error) }
        }
        var from = lower
        for _ in 0..<KVRange.scanProbeKeysMax {
            guard let (encoded, stored) = try first(from: from) else { return .exhausted }
            guard let (key, ts) = MVCCKey.decode(encoded) else { return .resume(from) }
            // The key's entries end before `next`, which is at most `upper` since key < upper.
            let next = MVCCKey.encode(key + [0], .zero)
            // nil: undecided; .some(nil): the visible version is a deletion.
            var decided = try KVRange.decide(key, ts, stored, readTS: readTS, txn: txn, snapshot: snapshot, visibility: visibility)
            // The newest version at or below `readTS`, if the key has one: the first entry from
            // `key@readTS` when it is still one of the key's (the cursor keeps a later key's
            // entry for the next round).
            if decided == nil, !readTS.isZero, let (older, olderStored) = try first(from: MVCCKey.encode(key, readTS)) {
                let entry = older.withUnsafeBytes { raw -> (sameKey: Bool, ts: Timestamp)? in
                    guard let (n, ts) = MVCCKey.split(raw) else { return nil }
                    return (key.withUnsafeBytes { compareBytes(UnsafeRawBufferPointer(rebasing: raw[0..<n]), $0) == 0 }, ts)
                }
                guard let entry, !entry.ts.isZero || !entry.sameKey else { return .resume(from) }
                if entry.sameKey { decided = .some(KVRange.versionValue(olderStored)) }
            }
            if case let .some(value?) = decided, try !body(key, value) { return .stopped(key) }
            from = next
        }
        return .resume(from)
    }
}
