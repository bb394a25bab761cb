import ApusCore
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

    init(desc: IndexDesc, table: TableDesc, dimension: Int) throws {
        method = desc.method ?? "hnsw"
        metric = LiveVectorIndex.metric(desc.opclass) ?? .l2
        self.dimension = dimension
        columnID = table.columns[desc.columns[0]].id
        let o = desc.options ?? [:]
        if method == "hnsw" {
            hnsw = try HNSWIndex(parameters: HNSWParameters(
                dimension: dimension, metric: metric, m: o["m"] ?? 16, efConstruction: o["ef_construction"] ?? 64))
            ivf = nil
        } else {
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
    var unindexedCount: Int { lock.withLock { unindexedRows.count } }

    func rowID(_ pk: [UInt8]) -> Int64? { lock.withLock { rowIDs[pk] } }
    func key(_ id: Int64) -> [UInt8]? { lock.withLock { keys[id] } }

    /// Sets the row's vector (nil: the row is gone or its vector is NULL); idempotent.
    func upsert(_ pk: [UInt8], _ vector: [Float]?, present: Bool) {
        let old: Int64? = lock.withLock {
            unindexedRows.remove(pk)
            guard let id = rowIDs.removeValue(forKey: pk) else { return nil }
            keys[id] = nil
            return id
        }
        if let old {
            do { try hnsw?.remove(rowID: old); try ivf?.remove(rowID: old) } catch {}
        }
        guard present else { return }
        guard let vector else {
            lock.withLock { _ = unindexedRows.insert(pk) }
            return
        }
        let id: Int64 = lock.withLock {
            defer { nextID += 1 }
            return nextID
        }
        do {
            try hnsw?.insert(rowID: id, vector: vector)
            try ivf?.insert(rowID: id, vector: vector)
            lock.withLock {
                rowIDs[pk] = id
                keys[id] = pk
            }
        } catch {
            // A vector the index cannot hold (a zero vector under cosine, a wrong dimension):
            // searches fall back to an exact scan when they might need it.
            lock.withLock { _ = unindexedRows.insert(pk) }
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
///
/// Not persisted: after a restart each index is rebuilt from its table on first use.
public final class VectorIndexes: Sendable {
    private let live = Mutex<[VectorIndexKey: LiveVectorIndex]>([:])

    /// Makes an empty set.
    public init() {}

    /// Number of built indexes (for tests).
    public var builtCount: Int { live.withLock { $0.count } }

    /// The built index, building it from the committed rows of `table` if needed.
    func index(_ table: TableDesc, _ desc: IndexDesc, engine: StorageEngine) throws -> LiveVectorIndex {
        let key = VectorIndexKey(table: table.id, index: desc.id)
        return try live.withLock { m throws -> LiveVectorIndex in
            if let l = m[key] { return l }
            let l = try VectorIndexes.build(table, desc, engine: engine)
            m[key] = l
            return l
        }
    }

    static func build(_ table: TableDesc, _ desc: IndexDesc, engine: StorageEngine) throws -> LiveVectorIndex {
        let col = desc.columns[0]
        guard case let .vector(n?) = try SQLType.from(try parseTypeSQL(table.columns[col].typeSQL)) else {
            throw SQLError(.dataException, "column does not have dimensions")
        }
        let l = try LiveVectorIndex(desc: desc, table: table, dimension: n)
        let tx = StorageTransaction(engine: engine)
        defer { tx.rollback() }
        let prefix = KeyEncoding.indexPrefix(table: table.id, index: 1)
        let rows = try tx.scan(lower: prefix, upper: KeyEncoding.prefixEnd(prefix))
        var vectors: [([UInt8], [Float]?)] = []
        vectors.reserveCapacity(rows.count)
        for (k, v) in rows {
            var vec: [Float]?
            if case let .vector(x)? = try RowEncoding.decode(v)[l.columnID] { vec = x }
            vectors.append((Array(k.dropFirst(prefix.count)), vec))
        }
        if let ivf = l.ivf {
            let samples = vectors.compactMap(\.1)
            if !samples.isEmpty { try ivf.train(samples.count > 50_000 ? Array(samples.prefix(50_000)) : samples) }
        }
        for (pk, vec) in vectors { l.upsert(pk, vec, present: true) }
        return l
    }

    /// Applies a committed transaction's changes.
    func apply(_ c: VectorTxChanges, engine: StorageEngine) {
        live.withLock { m in
            for t in c.resetTables { m = m.filter { $0.key.table != t } }
            for (key, rows) in c.rows {
                guard let l = m[key] else { continue }
                for (pk, vec) in rows { l.upsert(pk, vec.vector, present: vec.present) }
            }
            for (t, d) in c.builds where m[VectorIndexKey(table: t.id, index: d.id)] == nil {
                // CREATE INDEX builds when it commits; a failure leaves the build to the first search.
                if let l = try? VectorIndexes.build(t, d, engine: engine) { m[VectorIndexKey(table: t.id, index: d.id)] = l }
            }
        }
    }
}

/// A row's new state in a vector index: gone, or present with a vector (nil when NULL).
struct VectorRowChange {
    var present: Bool
    var vector: [Float]?
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
