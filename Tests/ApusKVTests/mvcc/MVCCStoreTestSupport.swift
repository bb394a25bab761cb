import ApusCore
@testable import ApusKV
import ApusStorage

/// What a versioned read found.
enum MVCCRead: Equatable, Sendable {
    /// The newest committed value visible at the read timestamp (nil: absent or deleted), or the
    /// reader's own intent.
    case value([UInt8]?)
    /// Another transaction's unresolved intent at or below the read timestamp: the reader must
    /// find that transaction's status (and wait or resolve) before it can read the key.
    case intent(owner: TxnID, timestamp: Timestamp)
}

/// Whole-engine reads, resolution and first-format records over `MVCCStore`'s encodings: what
/// the encoding tests check them through (the database reads and resolves through `KVRange`).
extension MVCCStore {
    /// Reads `key` at `readTS` as transaction `txn` (0: a non-transactional reader). With
    /// `reportIntents` false, foreign intents are skipped (the coordinator's commit order makes that safe).
    func get(_ key: [UInt8], readTS: Timestamp, txn: TxnID, reportIntents: Bool = true) throws(KVError) -> MVCCRead {
        do {
            let it = try engine.makeIterator()
            try it.seek(MVCCKey.encode(key, .zero))
            while it.isValid {
                guard let (k, ts) = MVCCKey.decode(it.key), k == key else { break }
                if ts.isZero {
                    if let intent = MVCCStore.decodeIntent(it.value) {
                        if intent.txn == txn { return .value(intent.value) }
                        if intent.timestamp <= readTS && reportIntents {
                            return .intent(owner: intent.txn, timestamp: intent.timestamp)
                        }
                    }
                } else if ts <= readTS {
                    return .value(MVCCStore.decodeVersion(it.value))
                }
                try it.next()
            }
        } catch {
            throw MVCCStore.storageError(error)
        }
        return .value(nil)
    }

    /// The newest committed version's timestamp of `key`, if any (for write-write conflict checks).
    func latestVersion(_ key: [UInt8]) throws(KVError) -> Timestamp? {
        do {
            let it = try engine.makeIterator()
            try it.seek(MVCCKey.encode(key, .zero))
            while it.isValid {
                guard let (k, ts) = MVCCKey.decode(it.key), k == key else { return nil }
                if !ts.isZero { return ts }
                try it.next()
            }
        } catch {
            throw MVCCStore.storageError(error)
        }
        return nil
    }

    /// The keys in `[lower, upper)` visible at `readTS` to `txn` (its own intents included,
    /// foreign intents skipped), in key order; also whether any version newer than `readTS`
    /// exists in the span (for validation).
    func scan(lower: [UInt8], upper: [UInt8], readTS: Timestamp, txn: TxnID)
        throws(KVError) -> (rows: [(key: [UInt8], value: [UInt8])], newerExists: Bool) {
        var rows: [(key: [UInt8], value: [UInt8])] = []
        var newer = false
        do {
            let it = try engine.makeIterator()
            try it.seek(MVCCKey.encode(lower, .zero))
            var current: [UInt8]? = nil
            var decided = false
            while it.isValid {
                guard let (k, ts) = MVCCKey.decode(it.key), compareBytes(k, upper) < 0 else { break }
                if k != current { current = k; decided = false }
                if ts.isZero {
                    if !decided, let intent = MVCCStore.decodeIntent(it.value), intent.txn == txn {
                        decided = true
                        if let v = intent.value { rows.append((k, v)) }
                    }
                } else if ts > readTS {
                    newer = true
                } else if !decided {
                    decided = true
                    if let v = MVCCStore.decodeVersion(it.value) { rows.append((k, v)) }
                }
                try it.next()
            }
        } catch {
            throw MVCCStore.storageError(error)
        }
        return (rows, newer)
    }

    /// Resolves `txn`'s intent on `key`: as a version at `commitTS`, or removed if nil (abort).
    /// Another transaction's intent is left alone.
    func resolveIntent(_ batch: inout WriteBatch, key: [UInt8], txn: TxnID, commitTS: Timestamp?) throws(KVError) {
        let raw: [UInt8]?
        do { raw = try engine.get(MVCCKey.encode(key, .zero)) } catch { throw MVCCStore.storageError(error) }
        guard let raw, let intent = MVCCStore.decodeIntent(raw), intent.txn == txn else { return }
        batch.delete(MVCCKey.encode(key, .zero))
        if let commitTS {
            var v: [UInt8] = [intent.value == nil ? 0 : 1]
            v.append(contentsOf: intent.value ?? [])
            batch.put(MVCCKey.encode(key, commitTS), v)
        }
    }

    /// The engine key of `txn`'s record (not anchored: `TxnRecord.key(txn, anchor: nil)`).
    static func recordKey(_ txn: TxnID) -> [UInt8] { TxnRecord.storedKey(txn, anchor: nil) }

    /// Adds `txn`'s record to `batch` (the `TxnRecord` encoding; its heartbeat is the wall time).
    static func putRecord(_ batch: inout WriteBatch, txn: TxnID, status: TxnStatus, ts: Timestamp) {
        batch.put(recordKey(txn), TxnRecord(status: status, timestamp: ts, heartbeat: SystemClock.wallNanos()).encoded)
    }

    /// `txn`'s record, or nil if it has none (never started writing, or already cleaned up).
    /// Records of either length (13 bytes from earlier builds, or with a heartbeat) decode.
    func record(_ txn: TxnID) throws(KVError) -> (status: TxnStatus, timestamp: Timestamp)? {
        let raw: [UInt8]?
        do { raw = try engine.get(MVCCStore.recordKey(txn)) } catch { throw MVCCStore.storageError(error) }
        guard let raw, let record = TxnRecord(decoding: raw) else { return nil }
        return (record.status, record.timestamp)
    }

}
