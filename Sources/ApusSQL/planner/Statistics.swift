import ApusCore
import Foundation

/// Statistics of one column, gathered by ANALYZE. Values are kept in their text form (read
/// back through the column's type when the planner loads them).
public struct ColumnStats: Sendable, Codable, Hashable {
    /// The fraction of rows whose value is NULL.
    public var nullFraction: Double
    /// Distinct non-NULL values: exact when the whole table fit in the sample, else estimated.
    public var distinct: Double
    /// The most common values and their frequencies (fractions of all rows), most common first.
    public var mostCommon: [String]
    public var mostCommonFrequencies: [Double]
    /// Equi-depth histogram bounds over the sampled values not among `mostCommon`, ascending
    /// (empty for types without a useful order, or too few distinct values).
    public var histogram: [String]
    /// The average stored width in bytes of a non-NULL value.
    public var averageWidth: Int
}

/// Statistics of one table, persisted under `TableStats.key(table)` (outside the catalog
/// document, so that ANALYZE neither rewrites nor bloats it).
public struct TableStats: Sendable, Codable, Hashable {
    /// Live rows when ANALYZE ran.
    public var rows: Double
    /// Per column, by column ID (as text, for a plain JSON object).
    public var columns: [String: ColumnStats]

    static let prefix: [UInt8] = [0x01] + Array("stats/".utf8)

    static func key(_ table: UInt32) -> [UInt8] { prefix + KeyEncoding.encode([.int(Int64(table))]) }

    static func load(_ tx: any KVTransaction, table: UInt32) throws(SQLError) -> TableStats? {
        guard let bytes = try tx.get(key(table)) else { return nil }
        do { return try JSONDecoder().decode(TableStats.self, from: Data(bytes)) } catch {
            // Statistics are hints: a document that does not decode is as good as none.
            return nil
        }
    }

    func save(_ tx: any KVTransaction, table: UInt32) throws(SQLError) {
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        let bytes: [UInt8]
        do { bytes = Array(try enc.encode(self)) } catch {
            throw SQLError(.internalError, "cannot encode statistics: \(error)")
        }
        try tx.put(TableStats.key(table), bytes)
    }

    /// Rows ANALYZE samples at most (PostgreSQL's 300 × default_statistics_target).
    static let sampleSize = 30_000
    /// Histogram buckets and most-common values kept per column (default_statistics_target).
    static let target = 100

    /// Reads every row of `t` through `tx`, keeping a seeded reservoir sample, and computes
    /// the row count and per-column statistics.
    static func collect(_ t: TableDesc, _ tx: any KVTransaction, interrupt: StatementInterrupt?) throws -> TableStats {
        let p = KeyEncoding.indexPrefix(table: t.id, index: 1)
        var rng = SplitMix64(seed: 0x5EED_0000 &+ UInt64(t.id))
        var sample: [[Value]] = []
        var seen = 0
        try tx.scanEach(lower: p, upper: KeyEncoding.prefixEnd(p)) { _, value in
            seen += 1
            if seen & 1023 == 0, let interrupt { try interrupt.check() }
            if sample.count < sampleSize {
                sample.append(try RowEncoding.decode(value, columns: t.columns))
            } else {
                let j = Int(rng.next() % UInt64(seen))
                if j < sampleSize { sample[j] = try RowEncoding.decode(value, columns: t.columns) }
            }
            return true
        }
        var columns: [String: ColumnStats] = [:]
        for (i, c) in t.columns.enumerated() {
            let type = (try? SQLType.from(try parseTypeSQL(c.typeSQL))) ?? .text
            columns[String(c.id)] = columnStats(sample.map { $0[i] }, total: seen, type: type)
        }
        return TableStats(rows: Double(seen), columns: columns)
    }

    /// Statistics of one column from its sampled values (`total`: rows in the table).
    static func columnStats(_ values: [Value], total: Int, type: SQLType) -> ColumnStats {
        let n = values.count
        guard n > 0 else {
            return ColumnStats(nullFraction: 0, distinct: 0, mostCommon: [], mostCommonFrequencies: [], histogram: [], averageWidth: 0)
        }
        var counts: [Value: Int] = [:]
        var nulls = 0
        var width = 0
        for v in values {
            if v.isNull { nulls += 1; continue }
            counts[v.groupKey, default: 0] += 1
            width += v.text(as: type)?.utf8.count ?? 0
        }
        let nonNull = n - nulls
        let d = counts.count
        var distinct = Double(d)
        if total > n && nonNull > 0 {
            // Haas and Stokes' estimator (as PostgreSQL's): n·d / (n − f1 + f1·n/N), where f1
            // values were seen once; all distinct in the sample means a unique column.
            let f1 = Double(counts.values.filter { $0 == 1 }.count)
            let sn = Double(nonNull), bigN = Double(total) * Double(nonNull) / Double(n)
            if f1 == sn {
                distinct = bigN
            } else {
                distinct = sn * Double(d) / (sn - f1 + f1 * sn / bigN)
                distinct = min(max(distinct, Double(d)), bigN)
            }
        }
        // Most common values: those seen more than once and clearly above the average frequency
        // (all of them when every value fits), most common first.
        let avg = Double(nonNull) / Double(max(d, 1))
        var common = counts.filter { $0.value >= 2 && (d <= target || Double($0.value) > 1.25 * avg) }
            .sorted { $0.value != $1.value ? $0.value > $1.value : Value.compare($0.key, $1.key) < 0 }
        if common.count > target { common = Array(common.prefix(target)) }
        let commonKeys = Set(common.map(\.key))
        var histogram: [String] = []
        if Statistics.ordered(type) {
            let rest = values.filter { !$0.isNull && !commonKeys.contains($0.groupKey) }.sorted { Value.compare($0, $1) < 0 }
            var distinctRest = 0
            var last: Value?
            for v in rest where last == nil || Value.compare(last!, v) != 0 { distinctRest += 1; last = v }
            if distinctRest >= 2 {
                let buckets = min(target, rest.count - 1)
                var bounds: [String] = []
                for b in 0...buckets {
                    let idx = b * (rest.count - 1) / buckets
                    if let s = rest[idx].text(as: type) { bounds.append(s) }
                }
                histogram = bounds
            }
        }
        return ColumnStats(
            nullFraction: Double(nulls) / Double(n), distinct: distinct.rounded(),
            mostCommon: common.compactMap { $0.key.text(as: type) }, mostCommonFrequencies: common.map { Double($0.value) / Double(n) },
            histogram: histogram, averageWidth: nonNull == 0 ? 0 : width / nonNull)
    }
}

/// Statistics of a table as the planner uses them: values read back into their column types.
final class AnalyzedTable {
    struct Column {
        var nullFraction: Double
        var distinct: Double
        var mostCommon: [(Value, Double)]
        var histogram: [Value]
    }
    let rows: Double
    /// By column position in the table's current column list (nil: not analyzed).
    let columns: [Column?]
    let raw: TableStats

    init(_ s: TableStats, _ t: TableDesc) {
        raw = s
        rows = s.rows
        columns = t.columns.map { c in
            guard let cs = s.columns[String(c.id)] else { return nil }
            let type = (try? SQLType.from(try parseTypeSQL(c.typeSQL))) ?? .text
            func read(_ x: String) -> Value? { try? castValue(.text(x), to: type) }
            var mcv: [(Value, Double)] = []
            for (i, x) in cs.mostCommon.enumerated() where i < cs.mostCommonFrequencies.count {
                if let v = read(x) { mcv.append((v, cs.mostCommonFrequencies[i])) }
            }
            let hist = cs.histogram.compactMap(read)
            return Column(nullFraction: cs.nullFraction, distinct: cs.distinct, mostCommon: mcv,
                          histogram: hist.count == cs.histogram.count ? hist : [])
        }
    }
}

/// Where the binder gets table statistics: the session's cache of the stored ones.
final class StatisticsSource {
    private var cache: [UInt32: AnalyzedTable?] = [:]
    private let read: (UInt32) -> TableStats?

    init(read: @escaping (UInt32) -> TableStats?) { self.read = read }

    func table(_ t: TableDesc) -> AnalyzedTable? {
        if let hit = cache[t.id], let a = hit, a.columns.count == t.columns.count { return a }
        if let hit = cache[t.id], hit == nil { return nil }
        let a = read(t.id).map { AnalyzedTable($0, t) }
        cache[t.id] = .some(a)
        return a
    }

    /// Replaces one table's entry (after this session's ANALYZE) or drops them all.
    func set(_ id: UInt32, _ s: TableStats?, _ t: TableDesc?) {
        if let s, let t { cache[id] = .some(AnalyzedTable(s, t)) } else { cache[id] = nil }
    }

    func clear() { cache = [:] }
}

enum Statistics {
    /// Whether values of `t` have an order worth a histogram.
    static func ordered(_ t: SQLType) -> Bool {
        switch t {
        case .vector, .array, .json, .jsonb, .bool: false
        default: true
        }
    }
}
