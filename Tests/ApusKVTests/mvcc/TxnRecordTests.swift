import ApusCore
@testable import ApusKV
import ApusStorage
import Testing

/// Transaction records at their anchor: the record key and its routing, the record's encoding
/// (both formats), anchored intents and the bounded intent spans.
@Suite struct TxnRecordTests {
    private static func engine() throws -> StorageEngine {
        var o = StorageOptions()
        o.comparator = .mvcc
        return try StorageEngine.open(directory: "/r", options: o, fileSystem: MemoryFileSystem())
    }

    @Test func aRecordKeyIsRoutedToItsAnchorsRange() throws {
        let engine = try TxnRecordTests.engine()
        defer { try? engine.close() }
        let router = RangeRouter(engine: engine, splitPoints: [Array("m".utf8), Array("f".utf8), Array("f".utf8), []])
        #expect(router.all.map(\.start) == [[], Array("f".utf8), Array("m".utf8)])
        #expect(router.all.map(\.end) == [Array("f".utf8), Array("m".utf8), nil])
        for (anchor, range) in [("a", 1), ("f", 2), ("g", 2), ("zz", 3)] {
            let key = TxnRecord.key(42, anchor: Array(anchor.utf8))
            #expect(router.range(for: Array(anchor.utf8)).id == range)
            #expect(router.range(for: key).id == range, "record anchored at \(anchor)")
            let decoded = try #require(TxnRecord.decodeKey(key))
            #expect(decoded.txn == 42 && decoded.anchor == Array(anchor.utf8))
            #expect(TxnRecord.isRecordKey(key))
        }
        // The first format's key is not anchored: it stays where its bytes sort.
        let legacy = TxnRecord.key(7, anchor: nil)
        #expect(legacy == [0] + Array("txn/".utf8) + [0, 0, 0, 0, 0, 0, 0, 7])
        let decodedLegacy = try #require(TxnRecord.decodeKey(legacy))
        #expect(decodedLegacy.txn == 7 && decodedLegacy.anchor == nil)
        #expect(router.range(for: legacy).id == 1)
        #expect(TxnRecord.decodeKey(Array("rec/abc".utf8)) == nil)
        // Spans split across ranges.
        let parts = router.ranges(lower: Array("b".utf8), upper: Array("n".utf8))
        #expect(parts.map(\.range.id) == [1, 2, 3])
        #expect(parts.map(\.lower) == [Array("b".utf8), Array("f".utf8), Array("m".utf8)])
    }

    @Test func recordsOfBothFormatsDecode() throws {
        let ts = Timestamp(wallNanos: 123_456, logical: 7)
        let spans = [KeySpan(lower: [1, 2], upper: [1, 3]), KeySpan(lower: [5], upper: [6, 0])]
        let r = TxnRecord(status: .staging, timestamp: ts, heartbeat: 99, spans: spans, inFlight: 300)
        #expect(TxnRecord(decoding: r.encoded) == r)
        #expect(TxnRecord(decoding: r.encoded)?.inFlight == 300)
        let committed = TxnRecord(status: .committed, timestamp: ts, heartbeat: 99, spans: spans)
        #expect(TxnRecord(decoding: committed.encoded) == committed)
        #expect(committed.inFlight == nil && committed.encoded.count < r.encoded.count)
        let none = TxnRecord(status: .pending, timestamp: ts, heartbeat: 5)
        #expect(none.encoded.count == 21)
        #expect(TxnRecord(decoding: none.encoded) == none)
        #expect(TxnRecord(decoding: TxnRecord(status: .aborted, timestamp: ts, heartbeat: 5, spans: []).encoded)?.spans == [])
        // The 13-byte record of earlier builds' TxnDB: status, wall, logical.
        var old: [UInt8] = [TxnStatus.committed.rawValue]
        old.appendBigEndian64(ts.wallNanos)
        old.appendBigEndian32(ts.logical)
        #expect(TxnRecord(decoding: old) == TxnRecord(status: .committed, timestamp: ts, heartbeat: 0))
        let engine = try TxnRecordTests.engine()
        defer { try? engine.close() }
        var b = WriteBatch()
        b.put(MVCCStore.recordKey(3), old)
        MVCCStore.putRecord(&b, txn: 4, status: .aborted, ts: ts)  // TxnDB's records now: one encoding
        try engine.write(b)
        let range = KVRange(id: 1, start: [], end: nil, engine: engine)
        #expect(try range.record(at: TxnRecord.key(3, anchor: nil))?.status == .committed)
        #expect(try MVCCStore(engine: engine).record(3)! == (.committed, ts))
        let four = try #require(try range.record(at: TxnRecord.key(4, anchor: nil)))
        #expect(four.status == .aborted && four.timestamp == ts && four.heartbeat > 0)
        #expect(try MVCCStore(engine: engine).record(4)! == (.aborted, ts))
        // Damaged values are refused, not misread.
        #expect(TxnRecord(decoding: Array(r.encoded.dropLast())) == nil)
        #expect(TxnRecord(decoding: Array(r.encoded.prefix(17))) == nil)
        #expect(TxnRecord(decoding: [9] + Array(repeating: 0, count: 20)) == nil)
    }

    @Test func anchoredIntentsNameTheirRecord() throws {
        var b = WriteBatch()
        let anchor = Array("first".utf8)
        MVCCStore.putIntent(&b, key: Array("k".utf8), txn: 5, ts: Timestamp(wallNanos: 10), value: Array("v".utf8), anchor: anchor)
        MVCCStore.putIntent(&b, key: Array("d".utf8), txn: 5, ts: Timestamp(wallNanos: 10), value: nil, anchor: anchor)
        MVCCStore.putIntent(&b, key: Array("old".utf8), txn: 6, ts: Timestamp(wallNanos: 10), value: Array("w".utf8))
        let engine = try TxnRecordTests.engine()
        defer { try? engine.close() }
        try engine.write(b)
        let range = KVRange(id: 1, start: [], end: nil, engine: engine)
        let k = try #require(try range.intent(on: Array("k".utf8)))
        #expect(k.txn == 5 && k.value == Array("v".utf8) && k.anchor == anchor)
        #expect(k.recordKey == TxnRecord.key(5, anchor: anchor))
        let d = try #require(try range.intent(on: Array("d".utf8)))
        #expect(d.value == nil && d.anchor == anchor)
        let old = try #require(try range.intent(on: Array("old".utf8)))
        #expect(old.anchor == nil && old.recordKey == TxnRecord.key(6, anchor: nil) && old.value == Array("w".utf8))
        // MVCCStore reads both forms.
        let store = MVCCStore(engine: engine)
        #expect(try store.get(Array("k".utf8), readTS: .max, txn: 5) == .value(Array("v".utf8)))
        #expect(try store.get(Array("d".utf8), readTS: .max, txn: 5) == .value(nil))
    }

    @Test func intentSpansCoverEveryKeyAndStayBounded() {
        var spans = IntentSpans()
        let grew = [spans.insert([5]), spans.insert([5]), spans.insert([5, 0])]  // adjacent: one span
        #expect(grew == [true, false, true])
        #expect(spans.spans == [KeySpan(lower: [5], upper: [5, 0, 0])])
        let more = [spans.insert([4, 255]), spans.insert([1])]
        #expect(more == [true, true])
        #expect(spans.spans.count == 3)
        var rng = SplitMix64(seed: 11)
        var keys: [[UInt8]] = [[5], [5, 0], [4, 255], [1]]
        for _ in 0..<5000 {
            let key = (0..<Int(rng.next() % 4 + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            spans.insert(key)
            keys.append(key)
            #expect(spans.spans.count <= IntentSpans.limit)
        }
        for key in keys { #expect(spans.contains(key), "\(key)") }
        for (a, b) in zip(spans.spans, spans.spans.dropFirst()) {
            #expect(compareBytes(a.lower, a.upper) < 0 && compareBytes(a.upper, b.lower) <= 0)
        }
        // Ascending keys, as a bulk insert writes them.
        var asc = IntentSpans()
        for i in 0..<10_000 {
            var k: [UInt8] = [2]
            k.appendBigEndian64(UInt64(i))
            asc.insert(k)
            #expect(asc.contains(k))
        }
        #expect(asc.spans.count <= IntentSpans.limit)
    }
}
