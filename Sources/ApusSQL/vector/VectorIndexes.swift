import ApusCore
import ApusKV
import ApusStorage
import ApusVector
import Foundation
import Synchronization

/// Identifies a vector index: its table's and its own ID.
struct VectorIndexKey: Hashable, Sendable {
    var table: UInt32
    var index: UInt32
}

/// The in-memory state of one HNSW or IVFFlat index over a table's committed rows.
///
/// Rows are identified to the index library by dense `Int64` IDs mapped to primary-key bytes.
/// Rows whose vector cannot be indexed (NULL, or a zero vector under cosine) are counted in
/// `unindexed` so that a search that finds fewer than `k` rows knows the index is not the
/// whole answer. Concurrency: the maps behind `lock`; the index libraries lock themselves.
final class LiveVectorIndex: @unchecked Sendable {
    let method: String
    let metric: DistanceMetric
    let dimension: Int
    let columnID: UInt32
    let hnsw: HNSWIndex?
    let ivf: IVFFlatIndex?
    private let lock = NSLock()
    private var rowIDs: [[UInt8]: Int64] = [:]
    private var keys: [Int64: [UInt8]] = [:]
    private var nextID: Int64 = 1
    private var unindexedRows: Set<[UInt8]> = []
    /// Each indexed row's other column values (vectors and long strings left out), so that a
    /// filtered search checks its WHERE clause in memory instead of reading the row. Like the
    /// index, it holds the committed rows.
    private var payload: [Int64: [Value]] = [:]
    /// Rows whose payload lacks a value it dropped (a long string): checked by reading the row.
    private var partialPayload: Set<Int64> = []
    /// The commit (by number in the coordinator's order) up to which the index may lack rows
    /// that older snapshots still see: the last one that removed or moved an indexed row, or
    /// the last one the build's snapshot saw (see `VectorIndexes`).
    private var removalCommit: UInt64 = 0

    /// The engine-backed store of a persisted (HNSW) index, nil for in-memory ones.
    let store: EngineVectorStore?
    let mapPrefix: [UInt8]

    init(desc: IndexDesc, table: TableDesc, dimension: Int, engine: StorageEngine?) throws {
        method = desc.method ?? "hnsw"
        metric = LiveVectorIndex.metric(desc.opclass) ?? .l2
        self.dimension = dimension
        columnID = table.columns[desc.columns[0]].id
        let o = desc.options ?? [:]
        let prefix = VectorIndexes.dataPrefix(table: table.id, index: desc.id)
        mapPrefix = prefix + [0x6D]
        if method == "hnsw" {
            store = engine.map { EngineVectorStore(engine: $0) }
            hnsw = try HNSWIndex(
                parameters: HNSWParameters(dimension: dimension, metric: metric, m: o["m"] ?? 16, efConstruction: o["ef_construction"] ?? 64),
                store: store, keyPrefix: prefix + [0x67])
            ivf = nil
        } else {
            store = nil
            ivf = try IVFFlatIndex(dimension: dimension, metric: metric, lists: o["lists"] ?? 100)
            hnsw = nil
        }
    }

    static func metric(_ opclass: String?) -> DistanceMetric? {
        switch opclass {
        case "vector_l2_ops": .l2
        case "vector_cosine_ops": .cosine
        case "vector_ip_ops": .innerProduct
        default: nil
        }
    }

    /// The SQL distance function an operator class orders by.
    static func distanceFunction(_ opclass: String?) -> String? {
        switch opclass {
        case "vector_l2_ops": "vec_l2_distance"
        case "vector_cosine_ops": "vec_cosine_distance"
        case "vector_ip_ops": "vec_negative_inner_product"
        default: nil
        }
    }

    var count: Int { lock.withLock { rowIDs.count } }
    var removedThrough: UInt64 { lock.withLock { removalCommit } }

    /// Notes that the index lacks rows seen by snapshots older than commit `n`.
    func noteRemoval(through n: UInt64) { lock.withLock { removalCommit = max(removalCommit, n) } }
    var unindexedCount: Int { lock.withLock { unindexedRows.count } }

    func rowID(_ pk: [UInt8]) -> Int64? { lock.withLock { rowIDs[pk] } }
    func key(_ id: Int64) -> [UInt8]? { lock.withLock { keys[id] } }

    /// The row's column values for checking a filter on columns other than vectors, or nil
    /// when they are not all kept (the caller reads the row instead).
    func payloadRow(_ id: Int64) -> [Value]? {
        lock.withLock { partialPayload.contains(id) ? nil : payload[id] }
    }

    /// Strings and byte strings longer than this are left out of the payload.
    static let payloadValueBytesMax = 64

    /// What the payload keeps of a row, and whether it dropped something.
    static func payloadOf(_ row: [Value]) -> ([Value], Bool) {
        var out = row
        var dropped = false
        for i in out.indices {
            switch out[i] {
            case .vector: out[i] = .null
            case let .text(t) where t.utf8.count > payloadValueBytesMax: out[i] = .null; dropped = true
            case let .bytes(b) where b.count > payloadValueBytesMax: out[i] = .null; dropped = true
            default: break
            }
        }
        return (out, dropped)
    }

    private func setPayload(_ id: Int64, _ row: [Value]?) {
        guard let row else {
            payload[id] = nil
            partialPayload.remove(id)
            return
        }
        let (kept, dropped) = LiveVectorIndex.payloadOf(row)
        payload[id] = kept
        if dropped { partialPayload.insert(id) } else { partialPayload.remove(id) }
    }

    /// The primary keys of up to `n` indexed rows spread evenly over the row IDs, for estimating
    /// a filter's selectivity.
    func sampleKeys(_ n: Int) -> [(id: Int64, pk: [UInt8])] {
        lock.withLock {
            guard !keys.isEmpty, n > 0 else { return [] }
            if keys.count <= n { return keys.map { ($0.key, $0.value) } }
            let span = nextID - 1
            var out: [(id: Int64, pk: [UInt8])] = []
            var seen = Set<Int64>()
            // Row IDs are dense from 1 unless rows were deleted; probe evenly, then fill up.
            for i in 0..<Int64(n) {
                let id = 1 + i * span / Int64(n)
                if let k = keys[id], seen.insert(id).inserted { out.append((id, k)) }
            }
            if out.count < n / 2 {
                for (id, k) in keys where out.count < n && seen.insert(id).inserted { out.append((id, k)) }
            }
            return out
        }
    }

    /// A row's entry in the persisted map: its ID and a hash of its vector.
    static func mapValue(_ id: Int64, _ v: [Float]) -> [UInt8] {
        var out: [UInt8] = []
        RowEncoding.appendU64(UInt64(bitPattern: id), &out)
        RowEncoding.appendU64(vectorHash(v), &out)
        return out
    }

    static func vectorHash(_ v: [Float]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for f in v {
            var b = f.bitPattern
            for _ in 0..<4 { h = (h ^ UInt64(b & 0xFF)) &* 0x100_0000_01b3; b >>= 8 }
        }
        return h
    }

    /// Sets the row's vector (nil: the row is gone or its vector is NULL); idempotent. Returns
    /// whether an entry of the row (indexed or unindexed) was removed or replaced.
    ///
    /// - Throws: when the index failed in a way that leaves it unusable (a storage error):
    ///   the caller drops it and rebuilds. A vector the index refuses (a zero vector under
    ///   cosine) is no failure: the row is counted as unindexed.
    @discardableResult
    func upsert(_ pk: [UInt8], _ vector: [Float]?, present: Bool, row: [Value]? = nil) throws -> Bool {
        // A row whose vector did not change (an UPDATE of other columns) keeps its graph node;
        // only the kept column values change.
        if present, let vector, let h = hnsw, let id = lock.withLock({ rowIDs[pk] }), h.vector(rowID: id) == vector {
            lock.withLock { setPayload(id, row) }
            return false
        }
        var removed = false
        let old: Int64? = lock.withLock {
            removed = unindexedRows.remove(pk) != nil
            guard let id = rowIDs.removeValue(forKey: pk) else { return nil }
            keys[id] = nil
            setPayload(id, nil)
            return id
        }
        removed = removed || old != nil
        if let old {
            try hnsw?.remove(rowID: old)
            try ivf?.remove(rowID: old)
            if let store {
                var b = VectorStoreBatch()
                b.deletes.append(mapPrefix + pk)
                try store.write(b)
            }
        }
        guard present else { return removed }
        guard let vector else {
            lock.withLock { _ = unindexedRows.insert(pk) }
            return removed
        }
        let id: Int64 = lock.withLock {
            defer { nextID += 1 }
            return nextID
        }
        do {
            // The map entry first: after a crash between the two writes, load() finds an
            // entry whose ID the graph lacks and inserts the row again.
            if let store {
                var b = VectorStoreBatch()
                b.puts.append((mapPrefix + pk, LiveVectorIndex.mapValue(id, vector)))
                try store.write(b)
            }
            try hnsw?.insert(rowID: id, vector: vector)
            try ivf?.insert(rowID: id, vector: vector)
        } catch let e as VectorError where [.zeroVector, .dimensionMismatch, .nonFiniteValue].contains(e.code) {
            lock.withLock { _ = unindexedRows.insert(pk) }
            return removed
        }
        lock.withLock {
            rowIDs[pk] = id
            keys[id] = pk
            setPayload(id, row)
        }
        return removed
    }

    /// Brings a persisted index in line with the table's rows (`rows`: primary key and vector):
    /// entries of rows that changed or vanished while the index's writes were lost in a crash
    /// are redone, missing rows inserted. Returns whether anything had to change.
    @discardableResult
    func reconcile(_ rows: [([UInt8], [Float]?, [Value])]) throws -> Bool {
        var changed = false
        var map: [[UInt8]: (Int64, UInt64)] = [:]
        if let store {
            for (k, v) in try store.scan(prefix: mapPrefix) where v.count == 16 {
                var r = RowEncoding.Reader(bytes: v)
                map[Array(k.dropFirst(mapPrefix.count))] = (Int64(bitPattern: try r.u64()), try r.u64())
            }
        }
        let graphRows = Set(hnsw?.rowIDs ?? [])
        // Graph nodes without a map entry: an interrupted insert; remove them.
        let mapped = Set(map.values.map(\.0))
        for id in graphRows where !mapped.contains(id) {
            try hnsw?.remove(rowID: id)
            changed = true
        }
        lock.withLock {
            for (pk, (id, _)) in map where graphRows.contains(id) {
                rowIDs[pk] = id
                keys[id] = pk
                nextID = max(nextID, id + 1)
            }
            for (_, (id, _)) in map { nextID = max(nextID, id + 1) }
        }
        var seen = Set<[UInt8]>()
        for (pk, vec, row) in rows {
            seen.insert(pk)
            if let vec, let (id, hash) = map[pk], graphRows.contains(id), hash == LiveVectorIndex.vectorHash(vec) {
                lock.withLock { setPayload(id, row) }
                continue
            }
            if vec == nil && map[pk] == nil {
                lock.withLock { _ = unindexedRows.insert(pk) }
                continue
            }
            try upsert(pk, vec, present: true, row: row)
            changed = true
        }
        for pk in map.keys where !seen.contains(pk) {
            try upsert(pk, nil, present: false)
            changed = true
        }
        return changed
    }
}

/// A `VectorIndexStore` over the storage engine: index data under the system prefix `0x03`,
/// written without a sync of its own (a crash may lose the latest writes, which `reconcile`
/// redoes from the table; the next synced commit makes them durable).
///
/// On the MVCC layout (`router` set) the same user keys go through the `RangeRouter`, each
/// stored as a single version at the fixed timestamp `version` (tag byte 1 before the value,
/// as `KVRange.putVersion` writes it), which the `.mvcc` comparator orders like any version;
/// a delete removes that one entry. Index data is not transactional (it follows commits, see
/// `VectorIndexes`), so it needs no intents or records: recovery, which looks for intents
/// (`key@0`), passes over it, and the MVCC GC, which keeps the newest version at or below its
/// threshold of every key, keeps it.
final class EngineVectorStore: VectorIndexStore {
    let engine: StorageEngine
    /// The MVCC layout's router; nil on the sequence layout.
    let router: RangeRouter?
    /// The one version every index key has on the MVCC layout.
    static let version = Timestamp(wallNanos: 1, logical: 1)

    init(engine: StorageEngine) {
        self.engine = engine
        router = engine.comparator == .mvcc ? TxnCoordinator.shared(engine).mvcc?.router : nil
    }

    func get(_ key: [UInt8]) throws -> [UInt8]? {
        guard let router else { return try engine.get(key) }
        guard let v = try router.range(for: key).engine.get(MVCCKey.encode(key, EngineVectorStore.version)), v.first == 1 else {
            return nil
        }
        return Array(v.dropFirst())
    }

    func write(_ batch: VectorStoreBatch) throws {
        guard let router else {
            var b = WriteBatch()
            for (k, v) in batch.puts { b.put(k, v) }
            for k in batch.deletes { b.delete(k) }
            try engine.write(b, sync: false)
            return
        }
        // One engine batch per range (one range for now: the batch stays atomic).
        var batches: [Int: (KVRange, WriteBatch)] = [:]
        for (k, v) in batch.puts {
            let r = router.range(for: k)
            KVRange.putVersion(&batches[r.id, default: (r, WriteBatch())].1, key: k, ts: EngineVectorStore.version, value: v)
        }
        for k in batch.deletes {
            let r = router.range(for: k)
            batches[r.id, default: (r, WriteBatch())].1.delete(MVCCKey.encode(k, EngineVectorStore.version))
        }
        for (r, b) in batches.values { try r.write(b, sync: false) }
    }

    func scan(prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        guard let router else {
            let it = try engine.makeIterator(IteratorOptions(lowerBound: prefix, upperBound: KeyEncoding.prefixEnd(prefix)))
            try it.seek(prefix)
            while it.isValid {
                out.append((it.key, it.value))
                try it.next()
            }
            return out
        }
        for r in router.ranges(lower: prefix, upper: KeyEncoding.prefixEnd(prefix)) {
            let lower = MVCCKey.encode(r.lower, .zero)
            let it = try r.range.engine.makeIterator(IteratorOptions(lowerBound: lower, upperBound: MVCCKey.encode(r.upper, .zero)))
            try it.seek(lower)
            while it.isValid {
                if let (k, ts) = MVCCKey.decode(it.key), ts == EngineVectorStore.version, it.value.first == 1 {
                    out.append((k, Array(it.value.dropFirst())))
                }
                try it.next()
            }
        }
        return out
    }

    /// Deletes every key under `prefix`, unsynced.
    func deletePrefix(_ prefix: [UInt8]) throws {
        guard let router else {
            try engine.deleteRange(prefix, KeyEncoding.prefixEnd(prefix), sync: false)
            return
        }
        for r in router.ranges(lower: prefix, upper: KeyEncoding.prefixEnd(prefix)) {
            var b = WriteBatch()
            b.deleteRange(MVCCKey.encode(r.lower, .zero), MVCCKey.encode(r.upper, .zero))
            try r.range.write(b, sync: false)
        }
    }
}

/// The vector indexes of one storage engine, shared by every session on it.
///
/// Contract: an index here reflects exactly the committed rows. It is built from a snapshot of
/// the table on first use (or when CREATE INDEX commits) and kept current by
/// `VectorTxState.committed()`, which applies a transaction's changes after its storage
/// write succeeded. Uncommitted rows never enter it: a transaction's own changes are merged
/// into its searches by the executor, so others cannot see them. Builds and applies are
/// serialized by one mutex, so a build cannot miss a commit that lands while it runs.
/// It holds the latest committed rows, so a snapshot from before a commit that removed or moved
/// a row may see rows it lacks: each index notes the last such commit (`removedThrough`, by
/// the coordinator's commit numbers; for a build, the last commit its snapshot saw) and a
/// search whose snapshot does not see that commit takes the exact plan.
///
/// Persistence: an HNSW graph lives in the key space under `0x03 table index` (on the MVCC
/// layout as versions at a fixed timestamp, see `EngineVectorStore`) and is loaded on first use
/// after a restart, then reconciled with the table (writes lost in a crash are redone); IVFFlat
/// lists are rebuilt from the table. Both layouts read the table's rows through a transaction
/// (on the MVCC layout its read path, at the applied watermark, which covers every commit
/// that returned before).
public final class VectorIndexes: Sendable {
    private let live = Mutex<[VectorIndexKey: LiveVectorIndex]>([:])

    /// Makes an empty set.
    public init() {}

    /// Number of built indexes (for tests).
    public var builtCount: Int { live.withLock { $0.count } }

    /// Where an index's data lives in the key space.
    static func dataPrefix(table: UInt32, index: UInt32) -> [UInt8] {
        var p: [UInt8] = [0x03]
        RowEncoding.appendU32(table, &p)
        RowEncoding.appendU32(index, &p)
        return p
    }

    /// The built index, loading it (HNSW: the persisted graph, reconciled with the table) or
    /// building it from the committed rows of `table` if needed.
    func index(_ table: TableDesc, _ desc: IndexDesc, engine: StorageEngine) throws -> LiveVectorIndex {
        let key = VectorIndexKey(table: table.id, index: desc.id)
        return try live.withLock { m throws -> LiveVectorIndex in
            if let l = m[key] { return l }
            let l = try VectorIndexes.load(table, desc, engine: engine)
            m[key] = l
            return l
        }
    }

    static func load(_ table: TableDesc, _ desc: IndexDesc, engine: StorageEngine) throws -> LiveVectorIndex {
        let col = desc.columns[0]
        guard case let .vector(n?) = try SQLType.ofColumn(table.columns[col].typeSQL) else {
            throw SQLError(.dataException, "column does not have dimensions")
        }
        let rows = try tableVectors(table, column: col, engine: engine)
        // Rows deleted before the snapshot are not in the index; older snapshots see them.
        let seen = TxnCoordinator.shared(engine).appliedCommits
        do {
            let l = try LiveVectorIndex(desc: desc, table: table, dimension: n, engine: engine)
            if let ivf = l.ivf {
                let samples = rows.compactMap(\.1)
                if !samples.isEmpty { try ivf.train(samples.count > 50_000 ? Array(samples.prefix(50_000)) : samples) }
            }
            try l.reconcile(rows)
            l.noteRemoval(through: seen)
            return l
        } catch {
            // A damaged persisted graph: start over from the table.
            try drop(table: table.id, index: desc.id, engine: engine)
            let l = try LiveVectorIndex(desc: desc, table: table, dimension: n, engine: engine)
            try l.reconcile(rows)
            l.noteRemoval(through: seen)
            return l
        }
    }

    /// Every row's primary key, vector (nil when NULL) and values, from a fresh snapshot.
    static func tableVectors(_ table: TableDesc, column: Int, engine: StorageEngine) throws -> [([UInt8], [Float]?, [Value])] {
        let tx = StorageTransaction(engine: engine)
        defer { tx.rollback() }
        let prefix = KeyEncoding.indexPrefix(table: table.id, index: 1)
        var out: [([UInt8], [Float]?, [Value])] = []
        try tx.scanEach(lower: prefix, upper: KeyEncoding.prefixEnd(prefix)) { k, v in
            let row = try RowEncoding.decode(v, columns: table.columns)
            var vec: [Float]?
            if case let .vector(x) = row[column] { vec = x }
            out.append((Array(k.dropFirst(prefix.count)), vec, row))
            return true
        }
        return out
    }

    /// Deletes an index's persisted data (`index` nil: every index of the table).
    static func drop(table: UInt32, index: UInt32?, engine: StorageEngine) throws {
        var p: [UInt8] = [0x03]
        RowEncoding.appendU32(table, &p)
        if let index { RowEncoding.appendU32(index, &p) }
        try EngineVectorStore(engine: engine).deletePrefix(p)
    }

    /// Applies a committed transaction's changes.
    func apply(_ c: VectorTxChanges, engine: StorageEngine) {
        // The commit is applied: its number is at most this one.
        let commit = TxnCoordinator.shared(engine).appliedCommits
        live.withLock { m in
            for t in c.resetTables {
                m = m.filter { $0.key.table != t }
                try? VectorIndexes.drop(table: t, index: nil, engine: engine)
            }
            for (key, rows) in c.rows {
                guard let l = m[key] else { continue }
                do {
                    for (pk, vec) in rows where try l.upsert(pk, vec.vector, present: vec.present, row: vec.row) {
                        l.noteRemoval(through: commit)
                    }
                } catch {
                    // The index is unusable (a failed write): forget it; it is rebuilt on next use.
                    m[key] = nil
                    try? VectorIndexes.drop(table: key.table, index: key.index, engine: engine)
                }
            }
            for (t, d) in c.builds where m[VectorIndexKey(table: t.id, index: d.id)] == nil {
                // CREATE INDEX builds when it commits; a failure leaves the build to the first search.
                if let l = try? VectorIndexes.load(t, d, engine: engine) { m[VectorIndexKey(table: t.id, index: d.id)] = l }
            }
        }
    }
}

/// A row's new state in a vector index: gone, or present with a vector (nil when NULL).
struct VectorRowChange {
    var present: Bool
    var vector: [Float]?
    /// The row's values when present (the index keeps the small ones for filters).
    var row: [Value]? = nil
}

/// One transaction's pending vector-index changes (a value, so a savepoint can copy it).
struct VectorTxChanges {
    var rows: [VectorIndexKey: [[UInt8]: VectorRowChange]] = [:]
    var resetTables: Set<UInt32> = []
    var builds: [(TableDesc, IndexDesc)] = []
}

/// The vector side of one transaction: its pending changes and the search settings of the
/// statement running in it.
public final class VectorTxState {
    let indexes: VectorIndexes
    let engine: StorageEngine
    var changes = VectorTxChanges()
    /// `hnsw.ef_search` and `ivfflat.probes` of the session.
    var efSearch = 40
    var probes = 1

    init(indexes: VectorIndexes, engine: StorageEngine) {
        self.indexes = indexes
        self.engine = engine
    }

    func record(_ t: TableDesc, _ idx: IndexDesc, _ pk: [UInt8], _ change: VectorRowChange) {
        changes.rows[VectorIndexKey(table: t.id, index: idx.id), default: [:]][pk] = change
    }

    /// Drops the table's built vector indexes when the transaction commits (TRUNCATE, DROP,
    /// ALTER TABLE); they are rebuilt from the table on next use.
    func reset(table: UInt32) { changes.resetTables.insert(table) }

    func committed() {
        let c = changes
        changes = VectorTxChanges()
        if c.rows.isEmpty && c.resetTables.isEmpty && c.builds.isEmpty { return }
        indexes.apply(c, engine: engine)
    }

    func rolledBack() { changes = VectorTxChanges() }
}
