import ApusCore
import ApusStorage

/// What a reader that met another transaction's intent must do with it.
public enum IntentVisibility: Sendable {
    /// The owner committed at this timestamp: the intent's value is that version.
    case committed(Timestamp)
    /// Not (yet) committed, or aborted: the intent is skipped.
    case invisible
}

/// A decoded intent: its owner, provisional timestamp, value (nil: a deletion) and the anchor
/// of its owner's record (nil: a record of the first format).
public struct Intent: Sendable {
    public var txn: TxnID
    public var timestamp: Timestamp
    public var value: [UInt8]?
    public var anchor: [UInt8]?

    /// The user key of the owner's record.
    public var recordKey: [UInt8] { TxnRecord.key(txn, anchor: anchor) }
}

/// Versioned reads and intent writes on one range (see `MVCCStore` for the byte layout).
///
/// Every read works on one engine snapshot, taken when it starts; `visibility` decides about
/// foreign intents and gets that snapshot, so that a record it looks up is consistent with the
/// intents the read met (an intent's record is deleted only after the intent is resolved).
extension KVRange {
    static func storageError(_ e: StorageError) -> KVError { KVError(.ioError, "storage error: \(e)") }

    /// Decodes the value stored at `key@0`, if it is an intent.
    public static func decodeIntent(_ raw: [UInt8]) -> Intent? {
        guard let d = MVCCStore.decodeIntent(raw) else { return nil }
        return Intent(txn: d.txn, timestamp: d.timestamp, value: d.value, anchor: d.anchor)
    }

    /// The intent on `key`, if any (newest state).
    public func intent(on key: [UInt8], snapshot: Snapshot? = nil) throws(KVError) -> Intent? {
        let raw: [UInt8]?
        do { raw = try engine.get(MVCCKey.encode(key, .zero), snapshot: snapshot) } catch { throw KVRange.storageError(error) }
        return raw.flatMap(KVRange.decodeIntent)
    }

    /// The record stored at `key` (a user key from `TxnRecord.key(_:anchor:)`), if any.
    public func record(at key: [UInt8], snapshot: Snapshot? = nil) throws(KVError) -> TxnRecord? {
        let raw: [UInt8]?
        do { raw = try engine.get(MVCCKey.encode(key, .zero), snapshot: snapshot) } catch { throw KVRange.storageError(error) }
        return raw.flatMap { TxnRecord(decoding: $0) }
    }

    /// Adds a record at `key` (a user key from `TxnRecord.key(_:anchor:)`) to `batch`.
    public static func putRecord(_ batch: inout WriteBatch, at key: [UInt8], _ record: TxnRecord) {
        batch.put(MVCCKey.encode(key, .zero), record.encoded)
    }

    /// Adds a committed version of `key` at `ts` (nil value: a deletion) to `batch`.
    public static func putVersion(_ batch: inout WriteBatch, key: [UInt8], ts: Timestamp, value: [UInt8]?) {
        var v: [UInt8] = [value == nil ? 0 : 1]
        v.append(contentsOf: value ?? [])
        batch.put(MVCCKey.encode(key, ts), v)
    }

    /// Writes `batch` to the range.
    public func write(_ batch: WriteBatch, sync: Bool) throws(KVError) {
        if batch.isEmpty { return }
        do { try engine.write(batch, sync: sync) } catch { throw KVRange.storageError(error) }
    }

    /// The value of `key` visible at `readTS` to transaction `txn` (its own intent first).
    ///
    /// Probes the engine (a `ProbeCursor`, which skips the memtables and tables whose filters
    /// lack the key) for the key's first entry from `key@0`: the intent slot when it
    /// holds an intent, else the newest version. When that is newer than `readTS` or an intent
    /// this read does not see, a second probe from `key@readTS` finds the newest version at or
    /// below `readTS`.
    public func get(_ key: [UInt8], readTS: Timestamp, txn: TxnID,
                    visibility: (Intent, [UInt8], Snapshot) throws(KVError) -> IntentVisibility) throws(KVError) -> [UInt8]? {
        let snapshot = engine.snapshot()
        let lower = MVCCKey.encode(key, .zero), upper = MVCCKey.encode(key + [0], .zero)
        // One cursor for both probes: the second probes again only the sources before its target.
        let cursor: ProbeCursor
        do { cursor = try engine.probeCursor(lower: lower, upper: upper, filterKey: key, snapshot: snapshot) } catch {
            throw KVRange.storageError(error)
        }
        func first(from target: [UInt8]) throws(KVError) -> (key: [UInt8], value: [UInt8])? {
            do { return try cursor.first(from: target) } catch { throw KVRange.storageError(error) }
        }
        guard let (k, v) = try first(from: lower),
              let ts = k.withUnsafeBytes({ MVCCKey.split($0)?.timestamp }) else { return nil }
        if case let .some(value) = try KVRange.decide(key, ts, v, readTS: readTS, txn: txn, snapshot: snapshot, visibility: visibility) {
            return value
        }
        // No version is at or below a zero timestamp.
        guard !readTS.isZero, let (k2, v2) = try first(from: MVCCKey.encode(key, readTS)),
              let ts2 = k2.withUnsafeBytes({ MVCCKey.split($0)?.timestamp }), !ts2.isZero else { return nil }
        return KVRange.versionValue(v2)
    }

    /// What one entry of `key` (timestamp `ts`, `stored` bytes) decides for `txn` reading at
    /// `readTS` on `snapshot`: `.some(value, nil for a deletion)` when it is the entry the read
    /// sees (its own intent, another's intent committed at or below `readTS`, or a version at or
    /// below it), nil when an older entry may be.
    static func decide(_ key: [UInt8], _ ts: Timestamp, _ stored: [UInt8], readTS: Timestamp, txn: TxnID, snapshot: Snapshot,
                       visibility: (Intent, [UInt8], Snapshot) throws(KVError) -> IntentVisibility) throws(KVError) -> [UInt8]?? {
        if ts.isZero {
            guard let intent = KVRange.decodeIntent(stored) else { return nil }
            if intent.txn == txn { return .some(intent.value) }
            if case let .committed(cts) = try visibility(intent, key, snapshot), cts <= readTS { return .some(intent.value) }
            return nil
        }
        return ts <= readTS ? .some(versionValue(stored)) : nil
    }

    /// The value a committed version stores (nil: a deletion): its tag byte, 1 for a value, 0
    /// for a deletion, then the value.
    static func versionValue(_ stored: [UInt8]) -> [UInt8]? {
        stored.first == 1 ? Array(stored.dropFirst()) : nil
    }

    /// Calls `body` with each key in `[lower, upper)` visible at `readTS` to `txn`, and its
    /// value, in key order (`reverse`: descending); `body` returns false to stop.
    ///
    /// - Returns: the key at which `body` stopped, nil when the span was exhausted.
    @discardableResult
    public func scan(lower: [UInt8], upper: [UInt8], readTS: Timestamp, txn: TxnID, reverse: Bool, pointKey: [UInt8]? = nil,
                     visibility: (Intent, [UInt8], Snapshot) throws(KVError) -> IntentVisibility,
                     _ body: ([UInt8], [UInt8]) throws -> Bool) throws -> [UInt8]? {
        try scanBorrowing(lower: lower, upper: upper, readTS: readTS, txn: txn, reverse: reverse, pointKey: pointKey,
                          visibility: visibility) { k, v in try body(k, Array(v)) }
    }

    /// `scan`, with each value lent to `body` rather than copied: the bytes are valid only
    /// during the call (a caller that decodes them in place copies nothing). The key is lent
    /// too, as an array: a `body` that keeps it makes the next key a copy.
    ///
    /// Forward, entries are read in place: the user-key part of each raw key is compared with
    /// the current key's bytes (copied into one reused buffer when the key changes), and a
    /// version's value goes to `body` without its tag byte straight from the iterator.
    /// Backward, a key's entries arrive oldest first and are collected until the key changes.
    ///
    /// - Returns: the key at which `body` stopped, nil when the span was exhausted.
    @discardableResult
    public func scanBorrowing(lower: [UInt8], upper: [UInt8], readTS: Timestamp, txn: TxnID, reverse: Bool,
                              pointKey: [UInt8]? = nil,
                              visibility: (Intent, [UInt8], Snapshot) throws(KVError) -> IntentVisibility,
                              _ body: ([UInt8], UnsafeRawBufferPointer) throws -> Bool) throws -> [UInt8]? {
        let snapshot = engine.snapshot()
        let lo = MVCCKey.encode(lower, .zero), hi = MVCCKey.encode(upper, .zero)
        // A forward scan's first keys come from probes (most index lookups end there); the
        // iterator takes over after them.
        var start = lo
        if !reverse && pointKey == nil {
            switch try scanStart(lower: lo, upper: hi, readTS: readTS, txn: txn, snapshot: snapshot,
                                 visibility: visibility, { k, v in try v.withUnsafeBytes { try body(k, $0) } }) {
            case .stopped(let k): return k
            case .exhausted: return nil
            case .resume(let from): start = from
            }
        }
        let it: StorageIterator
        do {
            it = try engine.makeIterator(pointKey.map { IteratorOptions(onlyKey: $0) } ?? IteratorOptions(lowerBound: lo, upperBound: hi),
                                         snapshot: snapshot)
            if reverse { try it.seekToLast() } else { try it.seek(start) }
        } catch {
            throw KVRange.storageError(error)
        }
        func decide(_ key: [UInt8], _ ts: Timestamp, _ value: [UInt8]) throws -> [UInt8]?? {
            try KVRange.decide(key, ts, value, readTS: readTS, txn: txn, snapshot: snapshot, visibility: visibility)
        }
        if reverse {
            return try scanBackward(it, pointKey: pointKey, decide: decide, body)
        }
        // The user key of the entries being read (its bytes reused from key to key), whether
        // its visible entry was found, and how many older entries were stepped over since.
        var key: [UInt8] = []
        var haveKey = false
        var decided = false
        var skipped = 0
        while it.isValid {
            // The raw key is borrowed (`it.key` is a reference to the iterator's buffer,
            // released before the iterator moves, so the iterator refills it in place).
            let entry = it.key.withUnsafeBytes { raw -> (ts: Timestamp, order: Int)? in
                guard let (n, ts) = MVCCKey.split(raw) else { return nil }
                let part = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                if let pointKey {
                    let c = pointKey.withUnsafeBytes { compareBytes(part, $0) }
                    if c != 0 { return (ts, c) }
                }
                if haveKey && key.withUnsafeBytes({ compareBytes(part, $0) == 0 }) { return (ts, 0) }
                key.removeAll(keepingCapacity: true)
                key.append(contentsOf: part)
                haveKey = true
                decided = false
                skipped = 0
                return (ts, 0)
            }
            guard let (ts, order) = entry else {
                // Not an MVCC key: not part of the table.
                do { try it.next() } catch { throw KVRange.storageError(error) }
                continue
            }
            if order > 0 { break }
            if order < 0 {
                // Before `pointKey`.
                do { try it.next() } catch { throw KVRange.storageError(error) }
                continue
            }
            if decided {
                // Older versions of a decided key: step over a few, then seek past the key.
                skipped += 1
                do {
                    if skipped < 4 { try it.next() } else { try it.seek(MVCCKey.encode(key + [0], .zero)) }
                } catch {
                    throw KVRange.storageError(error)
                }
                continue
            }
            if !ts.isZero {
                // The common case, a version: no intent in front of it.
                if ts <= readTS {
                    decided = true
                    // A live version's value without its tag byte, in place.
                    let stop = try it.value.withUnsafeBytes { v throws -> Bool in
                        guard v.first == 1 else { return false }
                        return try !body(key, UnsafeRawBufferPointer(rebasing: v[1...]))
                    }
                    if stop { return key }
                }
            } else if case let .some(v) = try decide(key, ts, it.value) {
                decided = true
                if let v, try !v.withUnsafeBytes({ try body(key, $0) }) { return key }
            }
            do { try it.next() } catch { throw KVRange.storageError(error) }
        }
        return nil
    }

    /// The backward part of `scanBorrowing`: a key's entries arrive oldest first, so they are
    /// collected until the key changes and then decided newest first.
    private func scanBackward(_ it: StorageIterator, pointKey: [UInt8]?,
                              decide: ([UInt8], Timestamp, [UInt8]) throws -> [UInt8]??,
                              _ body: ([UInt8], UnsafeRawBufferPointer) throws -> Bool) throws -> [UInt8]? {
        var group: [(ts: Timestamp, value: [UInt8])] = []
        var groupKey: [UInt8]? = nil
        /// Calls `body` with the group's visible value, if any; false when `body` stopped.
        func emit(_ key: [UInt8]) throws -> Bool {
            for (ts, value) in group.reversed() {
                guard case let .some(v) = try decide(key, ts, value) else { continue }
                guard let v else { return true }
                return try v.withUnsafeBytes { try body(key, $0) }
            }
            return true
        }
        while it.isValid {
            if let (k, ts) = MVCCKey.decode(it.key), pointKey.map({ $0 == k }) ?? true {
                if let g = groupKey, g != k {
                    if try !emit(g) { return g }
                    group.removeAll(keepingCapacity: true)
                }
                groupKey = k
                group.append((ts, it.value))
            }
            do { try it.prev() } catch { throw KVRange.storageError(error) }
        }
        if let g = groupKey, try !emit(g) { return g }
        return nil
    }
}

/// Reads the intents of keys visited in ascending order with one iterator over a range: the
/// next key is usually reached by stepping (a transaction's keys are often adjacent), others by
/// a seek. Cheaper than a point lookup per key when resolving a large transaction.
public final class IntentCursor {
    public let range: KVRange
    private var it: StorageIterator?

    public init(range: KVRange) { self.range = range }

    /// The intent on `key` (keys must come in ascending order).
    public func intent(on key: [UInt8]) throws(KVError) -> Intent? {
        let target = MVCCKey.encode(key, .zero)
        let cmp = KeyComparator.mvcc
        do {
            if let it {
                var steps = 0
                while it.isValid && cmp.compare(it.key, target) < 0 && steps < 8 {
                    try it.next()
                    steps += 1
                }
                if it.isValid && cmp.compare(it.key, target) < 0 { try it.seek(target) }
            } else {
                let made = try range.engine.makeIterator(IteratorOptions(lowerBound: target))
                try made.seek(target)
                it = made
            }
        } catch {
            throw KVRange.storageError(error)
        }
        guard let it, it.isValid, cmp.compare(it.key, target) == 0 else { return nil }
        return KVRange.decodeIntent(it.value)
    }
}
