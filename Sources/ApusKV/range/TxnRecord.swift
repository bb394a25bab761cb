import ApusCore
import ApusStorage

/// A half-open span of user keys `[lower, upper)`.
public struct KeySpan: Sendable, Equatable {
    public var lower: [UInt8]
    public var upper: [UInt8]

    public init(lower: [UInt8], upper: [UInt8]) {
        self.lower = lower
        self.upper = upper
    }

    /// Whether `key` falls in the span.
    public func contains(_ key: [UInt8]) -> Bool { compareBytes(key, lower) >= 0 && compareBytes(key, upper) < 0 }
}

/// A transaction record: the transaction's status, timestamp, heartbeat and the spans its
/// intents lie in.
///
/// **Where.** The record lives at a local key of the range holding its *anchor*, the
/// transaction's first written key: `0x00 "rec/" anchor id (8 B, BE)`, stored at `@0`
/// (`key(_:anchor:)`); `RangeRouter` routes it by the anchor, so the record is on some range
/// like any other key. Each intent names its anchor (`MVCCStore.putIntent`), so a reader that
/// meets an intent finds the record. Records of the first format (before anchors) are at
/// `0x00 "txn/" id`; intents without an anchor name such a record, and both stay readable.
///
/// **Value.** `status (1 B) | timestamp wall (8 B, BE) | logical (4 B, BE) | heartbeat wall ns
/// (8 B, BE) | span count (varint) | per span: lower, upper (each varint length + bytes) |
/// [in-flight writes (varint), STAGING only]`. The
/// first format ends after the timestamp (13 bytes, `TxnDB`) or the heartbeat (21 bytes);
/// such records have no spans (`spans == nil`: the intents may be anywhere).
///
/// **Spans.** Every intent of the transaction that is in the engine lies in one of the spans of
/// its record as last written (the record is written before, or with, the intents it newly
/// covers), condensed to at most `IntentSpans.limit` spans. Recovery and the cleanup of an
/// abandoned transaction visit those spans instead of the whole key space.
///
/// **STAGING** (a parallel commit, for a transaction that wrote on more than one range): the
/// record carries the commit timestamp and its in-flight writes, given as the number of intents
/// the transaction has in its spans. It is implicitly committed once all of them are durable;
/// whoever decides a STAGING record whose owner is gone counts them: all there → committed,
/// otherwise the missing write can no longer happen (its owner is gone) and it is aborted.
public struct TxnRecord: Sendable, Equatable {
    public var status: TxnStatus
    /// PENDING: the provisional timestamp; COMMITTED: the commit timestamp.
    public var timestamp: Timestamp
    /// When the owner last showed it was alive (wall ns since 1970).
    public var heartbeat: Int64
    /// The spans holding the transaction's intents; nil: unknown (a record of the first format).
    public var spans: [KeySpan]?
    /// STAGING: how many intents the transaction has in `spans` (its in-flight writes).
    public var inFlight: Int?

    public init(status: TxnStatus, timestamp: Timestamp, heartbeat: Int64, spans: [KeySpan]? = nil, inFlight: Int? = nil) {
        self.status = status
        self.timestamp = timestamp
        self.heartbeat = heartbeat
        self.spans = spans
        self.inFlight = spans == nil ? nil : inFlight
    }

    public var encoded: [UInt8] {
        var v: [UInt8] = [status.rawValue]
        v.appendBigEndian64(timestamp.wallNanos)
        v.appendBigEndian32(timestamp.logical)
        v.appendBigEndian64(UInt64(bitPattern: heartbeat))
        if let spans {
            v.appendVarint(UInt64(spans.count))
            for s in spans {
                v.appendLengthPrefixed(s.lower)
                v.appendLengthPrefixed(s.upper)
            }
            if let inFlight { v.appendVarint(UInt64(inFlight)) }
        }
        return v
    }

    public init?(decoding raw: [UInt8]) {
        guard raw.count >= 13, let status = TxnStatus(rawValue: raw[0]) else { return nil }
        self.status = status
        timestamp = Timestamp(wallNanos: decodeBigEndian64(raw, at: 1), logical: MVCCStore.be32(raw, 9))
        switch raw.count {
        case 13:
            heartbeat = 0
        case 14..<21:
            return nil
        default:
            heartbeat = Int64(bitPattern: decodeBigEndian64(raw, at: 13))
            guard raw.count > 21 else { break }
            var r = ByteReader(raw, offset: 21)
            do throws(CodingError) {
                let n = try r.readVarint()
                guard n <= UInt64(raw.count) else { return nil }
                var spans: [KeySpan] = []
                for _ in 0..<n {
                    let lower = Array(try r.readLengthPrefixed())
                    spans.append(KeySpan(lower: lower, upper: Array(try r.readLengthPrefixed())))
                }
                if !r.isAtEnd {
                    let n = try r.readVarint()
                    guard n <= UInt64(Int.max) else { return nil }
                    inFlight = Int(n)
                }
                guard r.isAtEnd else { return nil }
                self.spans = spans
            } catch {
                return nil
            }
        }
    }

    /// The user key of the record of `txn` anchored at `anchor` (nil: the first format's key).
    public static func key(_ txn: TxnID, anchor: [UInt8]?) -> [UInt8] {
        guard let anchor else {
            var k = legacyPrefix
            k.appendBigEndian64(txn)
            return k
        }
        var k = prefix
        k.reserveCapacity(prefix.count + anchor.count + 8)
        k.append(contentsOf: anchor)
        k.appendBigEndian64(txn)
        return k
    }

    /// The engine key of the record (`key(_:anchor:)` at `@0`).
    public static func storedKey(_ txn: TxnID, anchor: [UInt8]?) -> [UInt8] { MVCCKey.encode(key(txn, anchor: anchor), .zero) }

    /// The transaction and anchor (nil: the first format) of a record's user key, nil when
    /// `key` is not a record key.
    public static func decodeKey(_ key: [UInt8]) -> (txn: TxnID, anchor: [UInt8]?)? {
        guard key.first == 0, key.count >= prefix.count + 8 else { return nil }
        if key.starts(with: prefix) {
            return (decodeBigEndian64(key, at: key.count - 8), Array(key[prefix.count..<(key.count - 8)]))
        }
        if key.count == legacyPrefix.count + 8, key.starts(with: legacyPrefix) {
            return (decodeBigEndian64(key, at: legacyPrefix.count), nil)
        }
        return nil
    }

    /// The anchor of a record key of the current format (what `RangeRouter` routes it by).
    @inline(__always)
    static func anchor(ofRecordKey key: [UInt8]) -> ArraySlice<UInt8>? {
        guard key.first == 0, key.count >= prefix.count + 8, key.starts(with: prefix) else { return nil }
        return key[prefix.count..<(key.count - 8)]
    }

    /// The records' key prefix (`0x00 "rec/"`) and the first format's (`0x00 "txn/"`).
    public static let prefix: [UInt8] = [0] + Array("rec/".utf8)
    public static let legacyPrefix: [UInt8] = [0] + Array("txn/".utf8)

    /// The spans of user keys that hold records, in both formats (each engine keeps the records
    /// anchored in its ranges there).
    public static let recordSpans: [KeySpan] = [
        KeySpan(lower: prefix, upper: [0] + Array("rec0".utf8)),
        KeySpan(lower: legacyPrefix, upper: [0] + Array("txn0".utf8)),
    ]

    /// Whether `key` (a user key) is in one of `recordSpans`.
    public static func isRecordKey(_ key: [UInt8]) -> Bool { recordSpans.contains { $0.contains(key) } }
}

/// The spans a transaction's intents lie in, kept for its record: sorted, disjoint, half-open,
/// at most `limit` of them. Past the limit neighbouring spans are merged pairwise (so coverage
/// only grows: every key inserted stays covered).
public struct IntentSpans: Sendable, Equatable {
    /// At most this many spans are kept.
    public static let limit = 64
    public private(set) var spans: [KeySpan] = []

    public init() {}

    /// Adds `key`; returns whether the covered keys grew (false: `key` was covered already).
    @discardableResult
    public mutating func insert(_ key: [UInt8]) -> Bool {
        let lo = firstEndingAfter(key)
        if lo < spans.count && compareBytes(spans[lo].lower, key) <= 0 { return false }
        let upper = key + [0]  // the key's immediate successor
        if lo > 0 && spans[lo - 1].upper == key {
            spans[lo - 1].upper = upper
            if lo < spans.count && spans[lo].lower == upper {
                spans[lo - 1].upper = spans[lo].upper
                spans.remove(at: lo)
            }
        } else if lo < spans.count && spans[lo].lower == upper {
            spans[lo].lower = key
        } else {
            spans.insert(KeySpan(lower: key, upper: upper), at: lo)
        }
        if spans.count > IntentSpans.limit {
            var merged: [KeySpan] = []
            merged.reserveCapacity(spans.count / 2 + 1)
            var i = 0
            while i < spans.count {
                if i + 1 < spans.count {
                    merged.append(KeySpan(lower: spans[i].lower, upper: spans[i + 1].upper))
                } else {
                    merged.append(spans[i])
                }
                i += 2
            }
            spans = merged
        }
        return true
    }

    /// Whether `key` is covered.
    public func contains(_ key: [UInt8]) -> Bool {
        let i = firstEndingAfter(key)
        return i < spans.count && compareBytes(spans[i].lower, key) <= 0
    }

    /// The index of the first span whose upper bound is above `key` (`spans.count`: none).
    private func firstEndingAfter(_ key: [UInt8]) -> Int {
        var lo = 0, hi = spans.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareBytes(spans[mid].upper, key) <= 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
