import ApusCore

/// Batch-at-a-time execution over columns: the types. A `Batch` holds up to
/// `Batch.capacity` rows of a plan's output as one `ColumnVector` per output column.
/// Integer columns are kept unboxed (`[Int64]` and a NULL flag per row), so that scans
/// decode them without building `Value`s and comparisons, join probes and sums read them
/// directly; every other column holds `Value`s. See `BatchPipeline.swift` for the operators.
enum ColumnVector {
    /// A column no operator above reads (projection push-down): NULL in every row.
    case absent
    /// `Value.int`s; `nulls` (when not nil) flags the rows that are NULL.
    case ints([Int64], nulls: [Bool]?)
    case values([Value])

    @inline(__always)
    subscript(_ i: Int) -> Value {
        switch self {
        case .absent: return .null
        case let .ints(v, nulls):
            if let nulls, nulls[i] { return .null }
            return .int(v[i])
        case let .values(v): return v[i]
        }
    }

    /// The rows at `rows`, in that order (`-1`: a NULL row, for the unmatched side of an
    /// outer join).
    func gather(_ rows: [Int]) -> ColumnVector {
        switch self {
        case .absent: return .absent
        case let .ints(v, nulls):
            var out = [Int64](repeating: 0, count: rows.count)
            var outNulls: [Bool]? = nulls.map { _ in [Bool](repeating: false, count: rows.count) }
            for (j, i) in rows.enumerated() {
                if i < 0 {
                    if outNulls == nil { outNulls = [Bool](repeating: false, count: rows.count) }
                    outNulls![j] = true
                } else {
                    out[j] = v[i]
                    if let nulls, nulls[i] { outNulls![j] = true }
                }
            }
            return .ints(out, nulls: outNulls)
        case let .values(v):
            return .values(rows.map { $0 < 0 ? .null : v[$0] })
        }
    }

    /// `count` copies of `v`.
    static func repeating(_ v: Value, _ count: Int) -> ColumnVector {
        if case let .int(i) = v { return .ints([Int64](repeating: i, count: count), nulls: nil) }
        return .values([Value](repeating: v, count: count))
    }
}

struct Batch {
    /// Rows per batch: large enough that per-batch work (closure calls, column arrays)
    /// vanishes against per-row work, small enough to stay in cache.
    static let capacity = 1024

    var count: Int
    var columns: [ColumnVector]

    /// Row `i` written into `row` (resized to the batch's width).
    @inline(__always)
    func row(_ i: Int, into row: inout [Value]) {
        if row.count != columns.count { row = [Value](repeating: .null, count: columns.count) }
        for c in columns.indices { row[c] = columns[c][i] }
    }

    /// Only the rows at `rows`, in that order.
    func gather(_ rows: [Int]) -> Batch {
        Batch(count: rows.count, columns: columns.map { $0.gather(rows) })
    }
}

/// Collects one column's values row by row into a `ColumnVector`: unboxed while every value
/// is an integer (or NULL), as values from the first one that is not.
struct ColumnBuilder {
    private var ints: [Int64] = []
    private var nulls: [Bool] = []
    private var anyNull = false
    private var boxed: [Value]?
    private(set) var count = 0

    init(integers: Bool) {
        if integers {
            ints.reserveCapacity(Batch.capacity)
        } else {
            boxed = []
            boxed!.reserveCapacity(Batch.capacity)
        }
    }

    @inline(__always)
    mutating func appendInt(_ i: Int64) {
        count += 1
        if boxed != nil { boxed!.append(.int(i)); return }
        ints.append(i)
        if anyNull { nulls.append(false) }
    }

    @inline(__always)
    mutating func appendNull() {
        count += 1
        if boxed != nil { boxed!.append(.null); return }
        if !anyNull {
            anyNull = true
            nulls = [Bool](repeating: false, count: ints.count)
            nulls.reserveCapacity(Batch.capacity)
        }
        ints.append(0)
        nulls.append(true)
    }

    mutating func append(_ v: Value) {
        switch v {
        case let .int(i): appendInt(i)
        case .null: appendNull()
        default:
            if boxed == nil {
                boxed = (0..<ints.count).map { anyNull && nulls[$0] ? .null : .int(ints[$0]) }
                ints = []
                nulls = []
                anyNull = false
            }
            count += 1
            boxed!.append(v)
        }
    }

    /// The column built so far; the builder starts over, empty, keeping its kind.
    mutating func take() -> ColumnVector {
        defer { count = 0 }
        if let b = boxed {
            boxed = []
            boxed!.reserveCapacity(Batch.capacity)
            return .values(b)
        }
        let v = ints
        let n = anyNull ? nulls : nil
        ints = []
        ints.reserveCapacity(Batch.capacity)
        nulls = []
        anyNull = false
        return .ints(v, nulls: n)
    }
}

extension RowEncoding {
    /// Decodes a stored row into the builders of the columns `slots` marks (the builder
    /// index per column position, -1: skip undecoded), as `decode(_:columns:needed:into:)`
    /// does into a row: a column the row lacks is NULL, a value of a dropped column is
    /// skipped. Integers go into their builder without becoming `Value`s. `bytes` are read in
    /// place (a scan lends them).
    static func decode(_ bytes: UnsafeRawBufferPointer, columns: [ColumnDesc], slots: [Int],
                       into builders: inout [ColumnBuilder]) throws(SQLError) {
        let rowIndex = builders.first?.count ?? 0
        var r = Reader(bytes: bytes)
        let n = try r.u32()
        var next = 0
        for _ in 0..<n {
            let slot = columnPosition(of: try r.u32(), in: columns, after: &next)
            if slot >= 0 {
                let b = slots[slot]
                if b >= 0 {
                    guard builders[b].count == rowIndex else { throw Reader<UnsafeRawBufferPointer>.corrupt() }
                    if r.pos < bytes.count && bytes[r.pos] == 2 {
                        r.pos += 1
                        builders[b].appendInt(Int64(bitPattern: try r.u64()))
                    } else {
                        builders[b].append(try r.value())
                    }
                    continue
                }
            }
            try r.skipValue()
        }
        for b in builders.indices where builders[b].count == rowIndex { builders[b].appendNull() }
    }
}
