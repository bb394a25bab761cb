import ApusCore
import ApusStorage

/// Order-preserving tuple encoding for keys: comparing encodings byte-wise gives the same
/// order as comparing the values (NULL first), for values of one type per position.
///
/// Tags: NULL 0x05, false 0x10, true 0x11, integers 0x20 + 8 bytes big-endian with the sign
/// bit flipped, floats 0x30 + 8 bytes (IEEE bits, sign-flipped so negatives invert), numerics
/// 0x38 + the float encoding of their value + their normalised digits (order exact to double
/// precision; equality exact), text 0x40 and bytes 0x50 + bytes with 0x00 escaped as 0x00 0xFF,
/// terminated by 0x00 0x01; dates 0x60, timestamps 0x61/0x62 + the integer encoding.
public enum KeyEncoding {
    /// Appends one value.
    public static func append(_ v: Value, to out: inout [UInt8]) {
        switch v {
        case .null: out.append(0x05)
        case let .bool(b): out.append(b ? 0x11 : 0x10)
        case let .int(i): out.append(0x20); appendInt(i, &out)
        case let .float(d): out.append(0x30); appendDouble(d, &out)
        case let .numeric(n):
            out.append(0x38)
            appendDouble(n.doubleValue, &out)
            var u = n.unscaled, s = n.scale
            while s > 0 && u % 10 == 0 { u /= 10; s -= 1 }
            appendEscaped(Array(SQLDecimal(unscaled: u, scale: s).description.utf8), &out)
        case let .text(s): out.append(0x40); appendEscaped(Array(s.utf8), &out)
        case let .bytes(b): out.append(0x50); appendEscaped(b, &out)
        case let .date(d): out.append(0x60); appendInt(d, &out)
        case let .timestamp(t): out.append(0x61); appendInt(t, &out)
        case let .timestamptz(t): out.append(0x62); appendInt(t, &out)
        case let .time(t): out.append(0x63); appendInt(t, &out)
        case let .interval(m, d, u):
            out.append(0x70)
            appendInt((m * 30 + d) &* DateTime.usPerDay &+ u, &out)
            appendInt(m, &out); appendInt(d, &out); appendInt(u, &out)
        case let .vector(v):
            // Element-wise, a shorter vector first: each element behind a 0x01 marker, then 0x00.
            out.append(0x80)
            for x in v {
                out.append(0x01)
                var u = x.bitPattern
                u = (u & (1 << 31)) != 0 ? ~u : u | (1 << 31)
                for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: u >> UInt32(s))) }
            }
            out.append(0x00)
        case let .array(items):
            // Element-wise like vectors: 0x01 + the element's encoding, 0x02 for a NULL element
            // (after every value, as PostgreSQL orders them), then 0x00 (a prefix sorts first).
            out.append(0x90)
            for x in items {
                if x.isNull { out.append(0x02) } else { out.append(0x01); append(x, to: &out) }
            }
            out.append(0x00)
        }
    }

    /// Encodes a tuple.
    public static func encode(_ values: [Value]) -> [UInt8] {
        var out: [UInt8] = []
        for v in values { append(v, to: &out) }
        return out
    }

    static func appendInt(_ i: Int64, _ out: inout [UInt8]) {
        let u = UInt64(bitPattern: i) ^ (1 << 63)
        for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: u >> UInt64(s))) }
    }

    static func appendDouble(_ d: Double, _ out: inout [UInt8]) {
        var x = d
        if x == 0 { x = 0 } // -0 == 0
        if x.isNaN { x = .nan }
        var u = x.bitPattern
        u = (u & (1 << 63)) != 0 ? ~u : u | (1 << 63)
        for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: u >> UInt64(s))) }
    }

    static func appendEscaped(_ b: [UInt8], _ out: inout [UInt8]) {
        for x in b {
            out.append(x)
            if x == 0 { out.append(0xFF) }
        }
        out.append(0x00)
        out.append(0x01)
    }

    /// The key prefix of a table's index (the primary index has ID 1).
    public static func indexPrefix(table: UInt32, index: UInt32) -> [UInt8] {
        var out: [UInt8] = [0x02]
        for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: table >> UInt32(s))) }
        for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: index >> UInt32(s))) }
        return out
    }

    /// The smallest key greater than every key starting with `prefix`.
    public static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
        var p = prefix
        while let last = p.last {
            if last < 0xFF { p[p.count - 1] = last + 1; return p }
            p.removeLast()
        }
        return [0xFF, 0xFF, 0xFF, 0xFF]
    }
}

/// Row values: a column count, then per column its ID and a tagged value.
public enum RowEncoding {
    /// Encodes a row's values with their column IDs.
    public static func encode(columnIDs: [UInt32], values: [Value]) -> [UInt8] {
        var out: [UInt8] = []
        appendU32(UInt32(values.count), &out)
        for (i, v) in values.enumerated() {
            appendU32(columnIDs[i], &out)
            appendValue(v, &out)
        }
        return out
    }

    /// Decodes a row into a map from column ID to value.
    public static func decode(_ bytes: [UInt8]) throws(SQLError) -> [UInt32: Value] {
        var r = Reader(bytes: bytes)
        let n = try r.u32()
        var out: [UInt32: Value] = [:]
        for _ in 0..<n {
            let id = try r.u32()
            out[id] = try r.value()
        }
        return out
    }

    /// Decodes a row straight into the positions of `columns` (no intermediate map): a column
    /// the row lacks (added later) is NULL, a value whose column no longer exists (dropped) is
    /// skipped, and when `needed` is given, columns it does not mark are skipped undecoded and
    /// left NULL. Rows are written in column order, so each ID is first looked for at the next
    /// position.
    public static func decode(_ bytes: [UInt8], columns: [ColumnDesc], needed: [Bool]? = nil) throws(SQLError) -> [Value] {
        var out: [Value] = []
        try decode(bytes, columns: columns, needed: needed, into: &out)
        return out
    }

    /// `decode(_:columns:needed:)` into a caller's buffer (resized to the columns), so that a
    /// scan decoding row after row reuses one array.
    public static func decode(_ bytes: [UInt8], columns: [ColumnDesc], needed: [Bool]? = nil, into out: inout [Value]) throws(SQLError) {
        if out.count == columns.count {
            for i in out.indices { out[i] = .null }
        } else {
            out = [Value](repeating: .null, count: columns.count)
        }
        var r = Reader(bytes: bytes)
        let n = try r.u32()
        var next = 0
        for _ in 0..<n {
            let slot = columnPosition(of: try r.u32(), in: columns, after: &next)
            if slot >= 0 {
                if needed.map({ $0[slot] }) ?? true {
                    out[slot] = try r.value()
                    continue
                }
            }
            try r.skipValue()
        }
    }

    /// The position in `columns` of the stored value with column ID `id` (-1: a dropped
    /// column). Values are stored in column order, so the ID is first looked for at `next`,
    /// which moves past the position found.
    @inline(__always)
    static func columnPosition(of id: UInt32, in columns: [ColumnDesc], after next: inout Int) -> Int {
        var slot = -1
        if next < columns.count && columns[next].id == id {
            slot = next
        } else if let i = columns.firstIndex(where: { $0.id == id }) {
            slot = i
        }
        if slot >= 0 { next = slot + 1 }
        return slot
    }

    static func appendU32(_ v: UInt32, _ out: inout [UInt8]) {
        for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) }
    }

    static func appendU64(_ v: UInt64, _ out: inout [UInt8]) {
        for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) }
    }

    static func appendValue(_ v: Value, _ out: inout [UInt8]) {
        switch v {
        case .null: out.append(0)
        case let .bool(b): out.append(1); out.append(b ? 1 : 0)
        case let .int(i): out.append(2); appendU64(UInt64(bitPattern: i), &out)
        case let .float(d): out.append(3); appendU64(d.bitPattern, &out)
        case let .numeric(n):
            out.append(4)
            appendU64(UInt64(truncatingIfNeeded: n.unscaled >> 64), &out)
            appendU64(UInt64(truncatingIfNeeded: n.unscaled), &out)
            appendU32(UInt32(n.scale), &out)
        case let .text(s): out.append(5); let b = Array(s.utf8); appendU32(UInt32(b.count), &out); out += b
        case let .bytes(b): out.append(6); appendU32(UInt32(b.count), &out); out += b
        case let .date(d): out.append(7); appendU64(UInt64(bitPattern: d), &out)
        case let .timestamp(t): out.append(8); appendU64(UInt64(bitPattern: t), &out)
        case let .timestamptz(t): out.append(9); appendU64(UInt64(bitPattern: t), &out)
        case let .interval(m, d, u):
            out.append(10)
            appendU64(UInt64(bitPattern: m), &out); appendU64(UInt64(bitPattern: d), &out); appendU64(UInt64(bitPattern: u), &out)
        case let .vector(v):
            out.append(11)
            appendU32(UInt32(v.count), &out)
            for x in v { appendU32(x.bitPattern, &out) }
        case let .time(t): out.append(13); appendU64(UInt64(bitPattern: t), &out)
        case let .array(items):
            out.append(12)
            appendU32(UInt32(items.count), &out)
            for x in items { appendValue(x, &out) }
        }
    }

    /// Reads a row's encoding from `bytes`: an array, or bytes lent by a scan
    /// (`UnsafeRawBufferPointer`, decoded in place).
    struct Reader<Bytes: RandomAccessCollection> where Bytes.Element == UInt8, Bytes.Index == Int {
        let bytes: Bytes
        var pos = 0

        init(bytes: Bytes) {
            precondition(bytes.startIndex == 0, "a row's bytes are indexed from 0")
            self.bytes = bytes
        }

        static func corrupt() -> SQLError { SQLError(.dataCorrupted, "corrupt row encoding") }

        @inline(__always)
        mutating func byte() throws(SQLError) -> UInt8 {
            guard pos < bytes.count else { throw Reader.corrupt() }
            pos += 1
            return bytes[pos - 1]
        }

        @inline(__always)
        mutating func u32() throws(SQLError) -> UInt32 {
            guard pos + 4 <= bytes.count else { throw Reader.corrupt() }
            defer { pos += 4 }
            return UInt32(bytes[pos]) << 24 | UInt32(bytes[pos + 1]) << 16 | UInt32(bytes[pos + 2]) << 8 | UInt32(bytes[pos + 3])
        }

        @inline(__always)
        mutating func u64() throws(SQLError) -> UInt64 {
            let hi = UInt64(try u32())
            return hi << 32 | UInt64(try u32())
        }

        mutating func skip(_ n: Int) throws(SQLError) {
            guard n >= 0, pos + n <= bytes.count else { throw Reader.corrupt() }
            pos += n
        }

        /// Steps over one tagged value without building it.
        mutating func skipValue() throws(SQLError) {
            switch try byte() {
            case 0: return
            case 1: try skip(1)
            case 2, 3, 7, 8, 9, 13: try skip(8)
            case 4: try skip(20)
            case 5, 6: let n = Int(try u32()); try skip(n)
            case 10: try skip(24)
            case 11: let n = Int(try u32()); try skip(4 * n)
            case 12:
                let n = Int(try u32())
                guard n <= bytes.count - pos else { throw Reader.corrupt() }
                for _ in 0..<n {
                    // Arrays do not nest: refusing a nested tag also bounds the recursion on corrupt input.
                    guard pos < bytes.count, bytes[pos] != 12 else { throw Reader.corrupt() }
                    try skipValue()
                }
            default: throw Reader.corrupt()
            }
        }

        mutating func take(_ n: Int) throws(SQLError) -> [UInt8] {
            guard n >= 0, pos + n <= bytes.count else { throw Reader.corrupt() }
            defer { pos += n }
            return Array(bytes[pos..<pos + n])
        }

        mutating func value() throws(SQLError) -> Value {
            switch try byte() {
            case 0: return .null
            case 1: return .bool(try byte() != 0)
            case 2: return .int(Int64(bitPattern: try u64()))
            case 3: return .float(Double(bitPattern: try u64()))
            case 4:
                let hi = try u64(), lo = try u64()
                let u = Int128(Int64(bitPattern: hi)) << 64 | Int128(lo)
                return .numeric(SQLDecimal(unscaled: u, scale: Int(try u32())))
            case 5:
                let n = Int(try u32())
                let start = pos
                try skip(n)
                return .text(String(decoding: bytes[start..<start + n], as: UTF8.self))
            case 6: let n = Int(try u32()); return .bytes(try take(n))
            case 7: return .date(Int64(bitPattern: try u64()))
            case 8: return .timestamp(Int64(bitPattern: try u64()))
            case 9: return .timestamptz(Int64(bitPattern: try u64()))
            case 13: return .time(Int64(bitPattern: try u64()))
            case 10:
                let m = Int64(bitPattern: try u64()), d = Int64(bitPattern: try u64()), u = Int64(bitPattern: try u64())
                return .interval(months: m, days: d, micros: u)
            case 11:
                let n = Int(try u32())
                guard n <= VectorValue.maxDimensions, pos + 4 * n <= bytes.count else { throw Reader.corrupt() }
                let start = pos
                pos += 4 * n
                let v = [Float](unsafeUninitializedCapacity: n) { buffer, count in
                    for i in 0..<n {
                        let o = start + 4 * i
                        buffer[i] = Float(bitPattern: UInt32(bytes[o]) << 24 | UInt32(bytes[o + 1]) << 16
                            | UInt32(bytes[o + 2]) << 8 | UInt32(bytes[o + 3]))
                    }
                    count = n
                }
                return .vector(v)
            case 12:
                // Every element takes at least its tag byte, which bounds a corrupt count.
                let n = Int(try u32())
                guard n <= bytes.count - pos else { throw Reader.corrupt() }
                var items: [Value] = []
                items.reserveCapacity(n)
                for _ in 0..<n {
                    guard pos < bytes.count, bytes[pos] != 12 else { throw Reader.corrupt() }
                    items.append(try value())
                }
                return .array(items)
            default: throw Reader.corrupt()
            }
        }
    }
}

extension KeyEncoding {
    /// The prefix table filters hold for SQL keys: for an entry of a secondary index
    /// (`0x02 | table | index > 1 | values... | primary key`), the table and index IDs and the
    /// first indexed value, so that an equality lookup on an index's leading column skips the
    /// tables without that value (see `ApusStorage.BloomPrefix`). Other keys have none: rows
    /// are read by whole key, which filters cover already.
    ///
    /// Part of the table file format under its name: change the name with the function.
    public static let bloomPrefix = BloomPrefix(name: "apus.sql.index-first-value.1") { key in
        guard key.count > 9, key[0] == 0x02 else { return nil }
        let index = UInt32(key[5]) << 24 | UInt32(key[6]) << 16 | UInt32(key[7]) << 8 | UInt32(key[8])
        guard index > 1, let n = valueLength(key, at: 9) else { return nil }
        return 9 + n
    }

    /// The length of the encoded value at `offset`, for the encodings of fixed length and the
    /// escaped ones (nil for others and for malformed bytes).
    static func valueLength(_ key: UnsafeRawBufferPointer, at offset: Int) -> Int? {
        func escaped(from start: Int) -> Int? {
            var i = start
            while i + 1 < key.count {
                if key[i] == 0x00 {
                    if key[i + 1] == 0x01 { return i + 2 - offset }
                    guard key[i + 1] == 0xFF else { return nil }
                    i += 2
                } else {
                    i += 1
                }
            }
            return nil
        }
        let n: Int
        switch key[offset] {
        case 0x05, 0x10, 0x11: n = 1
        case 0x20, 0x30, 0x60, 0x61, 0x62, 0x63: n = 9
        case 0x38: return offset + 9 < key.count ? escaped(from: offset + 9) : nil
        case 0x40, 0x50: return escaped(from: offset + 1)
        case 0x70: n = 33
        default: return nil
        }
        return offset + n <= key.count ? n : nil
    }
}

extension StorageOptions {
    /// The storage options of an SQL database: the defaults, with `KeyEncoding.bloomPrefix`.
    public static var sql: StorageOptions {
        var o = StorageOptions()
        o.bloomPrefix = KeyEncoding.bloomPrefix
        return o
    }
}
