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

/// Versions, intents and transaction records on an engine opened with the `.mvcc` comparator.
///
/// ```
/// committed version  key@ts  -> tag (1 B: 1 value, 0 tombstone) | value
/// intent             key@0   -> txn id (8 B, BE) | wall (8 B, BE) | logical (4 B, BE) | tag (1 B) | value
/// anchored intent    key@0   -> txn id | wall | logical | tag (1 B: 3 value, 2 tombstone) | anchor (varint length + bytes) | value
/// txn record         see `TxnRecord` (anchored: 0x00 "rec/" anchor id; first format: 0x00 "txn/" id)
/// ```
/// The intent sorts before every version of its key, so a read meets it first. An anchored
/// intent names the first written key of its transaction, whose range holds the transaction's
/// record (`TxnRecord.key(_:anchor:)`); an intent without an anchor (the first format) names the
/// record at `0x00 "txn/" id`. Both forms stay readable. Reads, resolution and records go
/// through `KVRange` (`RangeMVCC.swift`); this type keeps the encodings.
public final class MVCCStore: @unchecked Sendable {
    public let engine: StorageEngine

    public init(engine: StorageEngine) { self.engine = engine }

    static func storageError(_ e: StorageError) -> KVError { KVError(.ioError, "storage error: \(e)") }

    /// Adds an intent of `txn` at provisional `ts` to `batch`; `anchor`: the key whose range
    /// holds the transaction's record (nil: the first format, whose record is at `TxnRecord.key(txn, anchor: nil)`).
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
