import ApusCore
import ApusStorage
import Foundation

/// The status in a transaction record.
public enum TxnStatus: UInt8, Sendable {
    case pending = 1
    case staging = 2
    case committed = 3
    case aborted = 4
}

/// What a versioned read found.
public enum MVCCRead: Equatable, Sendable {
    /// The newest committed value visible at the read timestamp (nil: absent or deleted), or the
    /// reader's own intent.
    case value([UInt8]?)
    /// Another transaction's unresolved intent at or below the read timestamp: the reader must
    /// find that transaction's status (and wait or resolve) before it can read the key.
    case intent(owner: TxnID, timestamp: Timestamp)
}

/// Versions, intents and transaction records on an engine opened with the `.mvcc` comparator.
///
/// ```
/// committed version  key@ts  -> tag (1 B: 1 value, 0 tombstone) | value
/// intent             key@0   -> txn id (8 B, BE) | wall (8 B, BE) | logical (4 B, BE) | tag (1 B) | value
/// anchored intent    key@0   -> txn id | wall | logical | tag (1 B: 3 value, 2 tombstone) | anchor (varint length + bytes) | value
/// txn record         0x00 "txn/" id (8 B, BE) @0 -> a `TxnRecord` (status, timestamp, heartbeat; no spans)
/// ```
/// The intent sorts before every version of its key, so a read meets it first. An anchored
/// intent names the first written key of its transaction, whose range holds the transaction's
/// record (`TxnRecord.key(_:anchor:)`, the SQL layer's); an intent without an anchor names the
/// record at `0x00 "txn/" id` (`TxnDB`'s). Both forms stay readable.
public final class MVCCStore: @unchecked Sendable {
    public let engine: StorageEngine

    public init(engine: StorageEngine) { self.engine = engine }

    static func storageError(_ e: StorageError) -> KVError { KVError(.ioError, "storage error: \(e)") }

    /// Reads `key` at `readTS` as transaction `txn` (0: a non-transactional reader). With
    /// `reportIntents` false, foreign intents are skipped (the coordinator's commit order makes that safe).
    public func get(_ key: [UInt8], readTS: Timestamp, txn: TxnID, reportIntents: Bool = true) throws(KVError) -> MVCCRead {
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
    public func latestVersion(_ key: [UInt8]) throws(KVError) -> Timestamp? {
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
    public func scan(lower: [UInt8], upper: [UInt8], readTS: Timestamp, txn: TxnID)
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

    /// Adds an intent of `txn` at provisional `ts` to `batch`; `anchor`: the key whose range
    /// holds the transaction's record (nil: the record is at `recordKey(txn)`).
    public static func putIntent(_ batch: inout WriteBatch, key: [UInt8], txn: TxnID, ts: Timestamp, value: [UInt8]?,
                                 anchor: [UInt8]? = nil) {
        var v: [UInt8] = []
        v.reserveCapacity(21 + (anchor.map { $0.count + 2 } ?? 0) + (value?.count ?? 0))
        v.appendBigEndian64(txn)
        v.appendBigEndian64(ts.wallNanos)
        v.appendBigEndian32(ts.logical)
        if let anchor {
            v.append(value == nil ? 2 : 3)
            v.appendLengthPrefixed(anchor)
        } else {
            v.append(value == nil ? 0 : 1)
        }
        v.append(contentsOf: value ?? [])
        batch.put(MVCCKey.encode(key, .zero), v)
    }

    /// Resolves `txn`'s intent on `key`: as a version at `commitTS`, or removed if nil (abort).
    /// Another transaction's intent is left alone.
    public func resolveIntent(_ batch: inout WriteBatch, key: [UInt8], txn: TxnID, commitTS: Timestamp?) throws(KVError) {
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
    public static func recordKey(_ txn: TxnID) -> [UInt8] { TxnRecord.storedKey(txn, anchor: nil) }

    /// Adds `txn`'s record to `batch` (the `TxnRecord` encoding; its heartbeat is the wall time).
    public static func putRecord(_ batch: inout WriteBatch, txn: TxnID, status: TxnStatus, ts: Timestamp) {
        batch.put(recordKey(txn), TxnRecord(status: status, timestamp: ts, heartbeat: SystemClock.wallNanos()).encoded)
    }

    /// `txn`'s record, or nil if it has none (never started writing, or already cleaned up).
    /// Records of either length (13 bytes from earlier builds, or with a heartbeat) decode.
    public func record(_ txn: TxnID) throws(KVError) -> (status: TxnStatus, timestamp: Timestamp)? {
        let raw: [UInt8]?
        do { raw = try engine.get(MVCCStore.recordKey(txn)) } catch { throw MVCCStore.storageError(error) }
        guard let raw, let record = TxnRecord(decoding: raw) else { return nil }
        return (record.status, record.timestamp)
    }

    static func be32(_ b: [UInt8], _ at: Int) -> UInt32 {
        (UInt32(b[at]) << 24) | (UInt32(b[at + 1]) << 16) | (UInt32(b[at + 2]) << 8) | UInt32(b[at + 3])
    }

    static func decodeVersion(_ v: [UInt8]) -> [UInt8]? {
        guard let tag = v.first, tag == 1 else { return nil }
        return Array(v.dropFirst())
    }

    static func decodeIntent(_ v: [UInt8]) -> (txn: TxnID, timestamp: Timestamp, value: [UInt8]?, anchor: [UInt8]?)? {
        guard v.count >= 21 else { return nil }
        let ts = Timestamp(wallNanos: decodeBigEndian64(v, at: 8), logical: be32(v, 16))
        let tag = v[20]
        guard tag >= 2 else { return (decodeBigEndian64(v, at: 0), ts, tag == 1 ? Array(v[21...]) : nil, nil) }
        var r = ByteReader(v, offset: 21)
        guard tag <= 3, let anchor = try? r.readLengthPrefixed() else { return nil }
        return (decodeBigEndian64(v, at: 0), ts, tag == 3 ? Array(v[r.offset...]) : nil, Array(anchor))
    }
}
