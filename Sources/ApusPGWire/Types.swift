import ApusCore
import ApusSQL

/// PostgreSQL type OIDs and the text and binary wire forms of values.
public enum PGTypes {
    public static func oid(_ t: SQLType) -> UInt32 { t.oid }

    /// `pg_type.typlen`: the fixed size, or -1 for variable-length types.
    public static func size(_ t: SQLType) -> Int16 {
        switch t {
        case .bool: 1
        case .int2: 2
        case .int4, .float4, .date, .oid: 4
        case .int8, .float8, .timestamp, .timestamptz, .time: 8
        case .interval, .uuid: 16
        default: -1
        }
    }

    /// The SQL type a parameter OID names, or nil for 0 / unknown OIDs.
    public static func type(oid: UInt32) -> SQLType? {
        switch oid {
        case 16: .bool
        case 21: .int2
        case 23: .int4
        case 20: .int8
        case 26: .oid
        case 700: .float4
        case 701: .float8
        case 1700: .numeric(precision: nil, scale: nil)
        case 25: .text
        case 1043: .varchar(nil)
        case 1042: .bpchar(nil)
        case 17: .bytea
        case 1082: .date
        case 1083: .time
        case 1114: .timestamp
        case 1184: .timestamptz
        case 1186: .interval
        case 2950: .uuid
        case 3802: .jsonb
        case 114: .json
        case VectorValue.typeOID: .vector(nil)
        default: ArrayValue.elementTypes[oid].map { SQLType.array($0) }
        }
    }

    /// Whether the binary form of `t` is implemented (otherwise text is sent).
    public static func hasBinary(_ t: SQLType) -> Bool {
        switch t {
        case .bool, .int2, .int4, .int8, .oid, .float4, .float8, .text, .varchar, .bpchar, .bytea, .date, .timestamp,
            .timestamptz, .uuid, .jsonb, .json, .interval, .numeric, .vector, .unknown, .null, .time:
            true
        case let .array(e): hasBinary(e)
        }
    }

    /// A value's text form.
    public static func text(_ v: Value, _ t: SQLType) -> [UInt8]? {
        guard let s = v.text(as: t) else { return nil }
        return Array(s.utf8)
    }

    static func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.bigEndian) { Array($0) }
    }

    /// A value's binary form (PostgreSQL's `*send` functions).
    public static func binary(_ v: Value, _ t: SQLType) -> [UInt8]? {
        if v.isNull { return nil }
        switch (t, v) {
        case (.bool, .bool(let b)): return [b ? 1 : 0]
        case (.int2, .int(let i)): return be(Int16(truncatingIfNeeded: i))
        case (.int4, .int(let i)): return be(Int32(truncatingIfNeeded: i))
        case (.int8, .int(let i)): return be(i)
        case (.oid, .int(let i)): return be(UInt32(truncatingIfNeeded: i))
        case (.float4, .float(let d)): return be(Float(d).bitPattern)
        case (.float8, .float(let d)): return be(d.bitPattern)
        case (.bytea, .bytes(let b)): return b
        case (.date, .date(let d)): return be(Int32(truncatingIfNeeded: d))
        case (.timestamp, .timestamp(let x)), (.timestamptz, .timestamptz(let x)), (.time, .time(let x)): return be(x)
        case (.interval, .interval(let m, let d, let us)): return be(us) + be(Int32(truncatingIfNeeded: d)) + be(Int32(truncatingIfNeeded: m))
        case (.uuid, _):
            let hex = (v.text(as: t) ?? "").filter { $0 != "-" }
            var out: [UInt8] = []
            var it = hex.makeIterator()
            while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16) ?? 0) }
            return out.count == 16 ? out : nil
        case (.jsonb, _): return [1] + Array((v.text(as: t) ?? "").utf8)
        case (.numeric, _): return numericBinary(v.text(as: t) ?? "0")
        case (.vector, .vector(let x)):
            // pgvector's vector_send: int16 dimensions, int16 unused, float4 elements.
            var out = be(Int16(truncatingIfNeeded: x.count)) + be(Int16(0))
            out.reserveCapacity(4 + 4 * x.count)
            for f in x { out += be(f.bitPattern) }
            return out
        case (.array(let e), .array(let items)):
            // array_send: dimensions, a has-NULLs flag, the element OID, then per dimension its
            // length and lower bound, then each element as a length (-1 for NULL) and its bytes.
            if items.isEmpty { return be(Int32(0)) + be(Int32(0)) + be(e.oid) }
            var out = be(Int32(1)) + be(Int32(items.contains(where: \.isNull) ? 1 : 0)) + be(e.oid)
            out += be(Int32(items.count)) + be(Int32(1))
            for x in items {
                if let b = binary(x, e) { out += be(Int32(b.count)) + b } else { out += be(Int32(-1)) }
            }
            return out
        default: return text(v, t)
        }
    }

    /// `numeric_recv`'s input (see `numericBinary`) as decimal text.
    static func numericText(_ b: [UInt8]) throws(SQLError) -> String {
        let bad = SQLError(SQLState("22P03"), "invalid binary numeric in bind parameter")
        guard b.count >= 8 else { throw bad }
        func word(_ i: Int) -> Int { Int(UInt16(b[i]) << 8 | UInt16(b[i + 1])) }
        let ndigits = word(0), weight = Int(Int16(truncatingIfNeeded: word(2))), sign = word(4), dscale = word(6)
        guard b.count == 8 + 2 * ndigits, ndigits <= 1000, dscale <= 1000, weight >= -1000, weight <= 1000 else { throw bad }
        if sign == 0xC000 { return "NaN" }
        guard sign == 0 || sign == 0x4000 else { throw bad }
        var digits: [Int] = []
        for i in 0..<ndigits {
            let d = word(8 + 2 * i)
            guard d < 10000 else { throw bad }
            digits.append(d)
        }
        // Groups from 10000^weight down: integer groups, then fraction groups.
        var intPart = ""
        var fracPart = ""
        let lowest = min(-1, weight - ndigits + 1)
        if weight >= 0 {
            for g in stride(from: weight, through: 0, by: -1) {
                let i = weight - g
                let d = i < ndigits ? digits[i] : 0
                intPart += intPart.isEmpty ? String(d) : String(repeating: "0", count: 4 - String(d).count) + String(d)
            }
        }
        if lowest <= -1 {
            for g in stride(from: -1, through: lowest, by: -1) {
                let i = weight - g
                let d = i >= 0 && i < ndigits ? digits[i] : 0
                fracPart += String(repeating: "0", count: 4 - String(d).count) + String(d)
            }
        }
        if intPart.isEmpty { intPart = "0" }
        if fracPart.count > dscale { fracPart = String(fracPart.prefix(dscale)) }
        while fracPart.count < dscale { fracPart += "0" }
        return (sign == 0x4000 ? "-" : "") + intPart + (dscale > 0 ? "." + fracPart : "")
    }

    /// `numeric_send`: ndigits, weight, sign, dscale, then base-10000 digits.
    static func numericBinary(_ s: String) -> [UInt8] {
        if s == "NaN" { return be(Int16(0)) + be(Int16(0)) + be(UInt16(0xC000)) + be(Int16(0)) }
        var str = Substring(s)
        var negative = false
        if str.hasPrefix("-") { negative = true; str = str.dropFirst() }
        let parts = str.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts.first ?? "0")
        let fracPart = parts.count > 1 ? String(parts[1]) : ""
        let dscale = fracPart.count
        // Pad the integer part on the left and the fraction on the right to multiples of 4.
        let intPadded = String(repeating: "0", count: (4 - intPart.count % 4) % 4) + intPart
        let fracPadded = fracPart + String(repeating: "0", count: (4 - fracPart.count % 4) % 4)
        var digits: [Int16] = []
        var chars = Array(intPadded)
        var i = 0
        while i < chars.count { digits.append(Int16(String(chars[i..<(i + 4)])) ?? 0); i += 4 }
        var weight = digits.count - 1
        chars = Array(fracPadded)
        i = 0
        while i < chars.count { digits.append(Int16(String(chars[i..<(i + 4)])) ?? 0); i += 4 }
        while let f = digits.first, f == 0, !digits.isEmpty { digits.removeFirst(); weight -= 1 }
        while let l = digits.last, l == 0 { digits.removeLast() }
        if digits.isEmpty { weight = 0 }
        var out = be(Int16(digits.count)) + be(Int16(weight)) + be(UInt16(negative && !digits.isEmpty ? 0x4000 : 0))
        out += be(Int16(dscale))
        for d in digits { out += be(d) }
        return out
    }

    /// array_recv: a binary array parameter of element type `e` (one dimension, or none when empty).
    static func arrayParameter(_ bytes: [UInt8], element e: SQLType) throws(SQLError) -> Value {
        let bad = SQLError(SQLState("22P03"), "incorrect binary data format in bind parameter")
        var pos = 0
        func i32() throws(SQLError) -> Int32 {
            guard pos + 4 <= bytes.count else { throw bad }
            defer { pos += 4 }
            return Int32(bitPattern: UInt32(bytes[pos]) << 24 | UInt32(bytes[pos + 1]) << 16 | UInt32(bytes[pos + 2]) << 8 | UInt32(bytes[pos + 3]))
        }
        let ndim = try i32()
        _ = try i32() // has-NULLs flag
        let elementOID = UInt32(bitPattern: try i32())
        if ndim == 0 { return .array([]) }
        guard ndim == 1 else {
            if ndim > 1 && ndim <= 6 { throw SQLError(.featureNotSupported, "multidimensional arrays are not supported yet") }
            throw SQLError(SQLState("22P03"), "invalid number of dimensions: \(ndim)")
        }
        let count = try i32()
        _ = try i32() // lower bound
        guard count >= 0, Int(count) <= bytes.count else { throw bad }
        // The element type is the one the client names when it is known, else the parameter's.
        var et = type(oid: elementOID) ?? e
        if case .array = et { et = e } // arrays do not nest
        var items: [Value] = []
        items.reserveCapacity(Int(count))
        for _ in 0..<count {
            let n = try i32()
            if n == -1 { items.append(.null); continue }
            guard n >= 0, pos + Int(n) <= bytes.count else { throw bad }
            let v = try parameter(Array(bytes[pos..<pos + Int(n)]), format: 1, oid: et.oid)
            pos += Int(n)
            items.append(try castValue(v, to: e))
        }
        guard pos == bytes.count else { throw bad }
        return .array(items)
    }

    /// Decodes a Bind parameter. Text parameters of unspecified type stay text: the binder
    /// casts them to the type the statement needs, as PostgreSQL does with `unknown` literals.
    public static func parameter(_ bytes: [UInt8]?, format: Int16, oid: UInt32) throws(SQLError) -> Value {
        guard let bytes else { return .null }
        let t = type(oid: oid)
        if format == 0 {
            let s = String(decoding: bytes, as: UTF8.self)
            guard let t, t != .text, t != .varchar(nil), t != .bpchar(nil) else { return .text(s) }
            return try castValue(.text(s), to: t)
        }
        func int<T: FixedWidthInteger>(_: T.Type) throws(SQLError) -> T {
            guard bytes.count == MemoryLayout<T>.size else {
                throw SQLError(SQLState("22P03"), "incorrect binary data format in bind parameter")
            }
            var v: T = 0
            for b in bytes { v = v << 8 | T(b) }
            return v
        }
        switch t {
        case .bool: return .bool(bytes.first == 1)
        case .int2: return .int(Int64(Int16(bitPattern: try int(UInt16.self))))
        case .int4: return .int(Int64(Int32(bitPattern: try int(UInt32.self))))
        case .int8: return .int(Int64(bitPattern: try int(UInt64.self)))
        case .oid: return .int(Int64(try int(UInt32.self)))
        case .float4: return .float(Double(Float(bitPattern: try int(UInt32.self))))
        case .float8: return .float(Double(bitPattern: try int(UInt64.self)))
        case .bytea: return .bytes(bytes)
        case .date: return .date(Int64(Int32(bitPattern: try int(UInt32.self))))
        case .timestamp: return .timestamp(Int64(bitPattern: try int(UInt64.self)))
        case .timestamptz: return .timestamptz(Int64(bitPattern: try int(UInt64.self)))
        case .time:
            let us = Int64(bitPattern: try int(UInt64.self))
            guard us >= 0, us <= 86_400_000_000 else { throw SQLError(SQLState("22008"), "time out of range") }
            return .time(us)
        case .interval:
            guard bytes.count == 16 else { throw SQLError(SQLState("22P03"), "incorrect binary data format in bind parameter") }
            func field<T: FixedWidthInteger>(_ range: Range<Int>, _: T.Type) -> T {
                var v: T = 0
                for b in bytes[range] { v = v << 8 | T(b) }
                return v
            }
            let micros = Int64(bitPattern: field(0..<8, UInt64.self))
            let days = Int64(Int32(bitPattern: field(8..<12, UInt32.self)))
            let months = Int64(Int32(bitPattern: field(12..<16, UInt32.self)))
            return .interval(months: months, days: days, micros: micros)
        case .uuid:
            guard bytes.count == 16 else { throw SQLError(SQLState("22P03"), "incorrect binary data format in bind parameter") }
            let hex = bytes.map { String(format: "%02x", $0) }
            let text = [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(separator: "-")
            return try castValue(.text(text), to: .uuid)
        case .jsonb:
            guard bytes.first == 1 else { throw SQLError(SQLState("22P03"), "unsupported jsonb version number \(bytes.first ?? 0)") }
            return try castValue(.text(String(decoding: bytes.dropFirst(), as: UTF8.self)), to: .jsonb)
        case .json: return try castValue(.text(String(decoding: bytes, as: UTF8.self)), to: .json)
        case .numeric: return try castValue(.text(try numericText(bytes)), to: .numeric(precision: nil, scale: nil))
        case .vector:
            guard bytes.count >= 4 else { throw SQLError(SQLState("22P03"), "incorrect binary data format in bind parameter") }
            let n = Int(UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
            guard n >= 1, n <= VectorValue.maxDimensions, bytes.count == 4 + 4 * n else {
                throw SQLError(SQLState("22P03"), "incorrect binary data format in bind parameter")
            }
            var v = [Float](repeating: 0, count: n)
            for i in 0..<n {
                var u: UInt32 = 0
                for b in bytes[(4 + 4 * i)..<(8 + 4 * i)] { u = u << 8 | UInt32(b) }
                v[i] = Float(bitPattern: u)
                guard v[i].isFinite else { throw SQLError(SQLState("22000"), "NaN or infinite value not allowed in vector") }
            }
            return .vector(v)
        case .text, .varchar, .bpchar, nil: return .text(String(decoding: bytes, as: UTF8.self))
        case let .array(e): return try arrayParameter(bytes, element: e)
        default:
            throw SQLError(.featureNotSupported, "binary parameters of type \(t.map { "\($0)" } ?? "unknown") are not supported yet")
        }
    }
}
