import ApusCore

extension Value {
    /// Total order used for sorting and comparisons of non-NULL values of comparable types
    /// (NULLs sort last). Numbers compare across int/float/numeric.
    static func compare(_ a: Value, _ b: Value) -> Int {
        switch (a, b) {
        case (.null, .null): return 0
        case (.null, _): return 1
        case (_, .null): return -1
        case let (.int(x), .int(y)): return x < y ? -1 : (x == y ? 0 : 1)
        case let (.float(x), .float(y)): return cmpDouble(x, y)
        case let (.int(x), .float(y)): return cmpDouble(Double(x), y)
        case let (.float(x), .int(y)): return cmpDouble(x, Double(y))
        case let (.numeric(x), .numeric(y)): return x < y ? -1 : (x == y ? 0 : 1)
        case let (.int(x), .numeric(y)): let d = SQLDecimal(x); return d < y ? -1 : (d == y ? 0 : 1)
        case let (.numeric(x), .int(y)): let d = SQLDecimal(y); return x < d ? -1 : (x == d ? 0 : 1)
        case let (.numeric(x), .float(y)): return cmpDouble(x.doubleValue, y)
        case let (.float(x), .numeric(y)): return cmpDouble(x, y.doubleValue)
        case let (.text(x), .text(y)): return cmpBytes(Array(x.utf8), Array(y.utf8))
        case let (.bool(x), .bool(y)): return x == y ? 0 : (x ? 1 : -1)
        case let (.bytes(x), .bytes(y)): return cmpBytes(x, y)
        case let (.date(x), .date(y)), let (.timestamp(x), .timestamp(y)), let (.timestamptz(x), .timestamptz(y)):
            return x < y ? -1 : (x == y ? 0 : 1)
        case let (.date(x), .timestamp(y)), let (.date(x), .timestamptz(y)):
            let u = x * DateTime.usPerDay; return u < y ? -1 : (u == y ? 0 : 1)
        case let (.timestamp(x), .date(y)), let (.timestamptz(x), .date(y)):
            let u = y * DateTime.usPerDay; return x < u ? -1 : (x == u ? 0 : 1)
        case let (.timestamp(x), .timestamptz(y)), let (.timestamptz(x), .timestamp(y)):
            return x < y ? -1 : (x == y ? 0 : 1)
        case let (.interval(m1, d1, u1), .interval(m2, d2, u2)):
            let x = (m1 * 30 + d1) * DateTime.usPerDay + u1, y = (m2 * 30 + d2) * DateTime.usPerDay + u2
            return x < y ? -1 : (x == y ? 0 : 1)
        case let (.vector(x), .vector(y)): return VectorValue.compare(x, y)
        case let (.array(x), .array(y)): return ArrayValue.compare(x, y)
        case let (.time(x), .time(y)): return x < y ? -1 : (x == y ? 0 : 1)
        default:
            return cmpBytes(Array(a.description.utf8), Array(b.description.utf8))
        }
    }

    static func cmpDouble(_ x: Double, _ y: Double) -> Int {
        // PostgreSQL: NaN equals NaN and sorts above every other value.
        if x.isNaN { return y.isNaN ? 0 : 1 }
        if y.isNaN { return -1 }
        return x < y ? -1 : (x == y ? 0 : 1)
    }

    static func cmpBytes(_ x: [UInt8], _ y: [UInt8]) -> Int {
        let n = min(x.count, y.count)
        var i = 0
        while i < n {
            if x[i] != y[i] { return x[i] < y[i] ? -1 : 1 }
            i += 1
        }
        return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
    }

    /// A key for hashing in GROUP BY, DISTINCT and hash joins: values that compare equal map
    /// to equal keys.
    var groupKey: Value {
        switch self {
        case let .float(d):
            if d == 0 { return .float(0) }
            if let i = Int64(exactly: d) { return .int(i) }
            return self
        case let .numeric(n):
            if let i = n.int64Value, SQLDecimal(i) == n { return .int(i) }
            if let d = Double(exactly: n.doubleValue), SQLDecimal.parse(formatFloat(d, single: false)) == n { return .float(d) }
            return self
        case let .array(items): return .array(items.map(\.groupKey))
        default: return self
        }
    }
}

func overflow(_ t: SQLType) -> SQLError {
    SQLError(.numericValueOutOfRange, "\(t == .int2 ? "smallint" : t == .int8 ? "bigint" : "integer") out of range")
}

func checkIntRange(_ v: Int64, _ t: SQLType) throws(SQLError) -> Value {
    switch t {
    case .int2: if v < Int64(Int16.min) || v > Int64(Int16.max) { throw overflow(t) }
    case .int4: if v < Int64(Int32.min) || v > Int64(Int32.max) { throw overflow(t) }
    default: break
    }
    return .int(v)
}

/// Rounds half to even like C's rint (PostgreSQL's float → int cast).
func rint(_ d: Double) -> Double { d.rounded(.toNearestOrEven) }

func parseBool(_ s: String) -> Bool? {
    switch s.trimmingSpaces().lowercased() {
    case "t", "true", "yes", "y", "on", "1": return true
    case "f", "false", "no", "n", "off", "0": return false
    default: return nil
    }
}

func invalidInput(_ type: String, _ s: String) -> SQLError {
    SQLError(.invalidTextRepresentation, "invalid input syntax for type \(type): \"\(s)\"")
}

/// Casts a value to a type, with PostgreSQL's rules and errors.
public func castValue(_ v: Value, to t: SQLType) throws(SQLError) -> Value {
    if case .null = v { return .null }
    switch t {
    case .null, .unknown: return v
    case .bool:
        switch v {
        case .bool: return v
        case let .int(i): return .bool(i != 0)
        case let .text(s):
            guard let b = parseBool(s) else { throw invalidInput("boolean", s) }
            return .bool(b)
        default: break
        }
    case .int2, .int4, .int8, .oid:
        switch v {
        case let .int(i): return try checkIntRange(i, t)
        case let .bool(b): return .int(b ? 1 : 0)
        case let .float(d):
            let r = rint(d)
            guard r.isFinite, r >= -9.223372036854775808e18, r < 9.223372036854775808e18 else { throw overflow(t) }
            return try checkIntRange(Int64(r), t)
        case let .numeric(n):
            let r = try n.rescaled(0)
            guard let i = Int64(exactly: r.unscaled) else { throw overflow(t) }
            return try checkIntRange(i, t)
        case let .text(s):
            let tr = s.trimmingSpaces()
            guard let i = Int64(tr.hasPrefix("+") ? String(tr.dropFirst()) : tr) else {
                if tr.allSatisfy({ $0.isNumber || $0 == "-" || $0 == "+" }) && !tr.isEmpty { throw overflow(t) }
                throw invalidInput(t.description, s)
            }
            return try checkIntRange(i, t)
        default: break
        }
    case .float4, .float8:
        var d: Double
        switch v {
        case let .int(i): d = Double(i)
        case let .float(x): d = x
        case let .numeric(n): d = n.doubleValue
        case let .text(s):
            let tr = s.trimmingSpaces().lowercased()
            switch tr {
            case "nan": d = .nan
            case "infinity", "inf", "+infinity": d = .infinity
            case "-infinity", "-inf": d = -.infinity
            default:
                guard let x = Double(tr) else { throw invalidInput(t.description, s) }
                d = x
            }
        default: throw cannotCast(v, t)
        }
        if t == .float4 {
            let f = Float(d)
            if f.isInfinite && d.isFinite { throw SQLError(.numericValueOutOfRange, "value out of range: overflow") }
            d = Double(f)
        }
        return .float(d)
    case let .numeric(p, s):
        var n: SQLDecimal
        switch v {
        case let .int(i): n = SQLDecimal(i)
        case let .numeric(x): n = x
        case let .float(d):
            guard d.isFinite, let x = SQLDecimal.parse(formatFloat(d, single: false)) else {
                throw SQLError.unsupported("NaN and infinity in numeric")
            }
            n = x
        case let .bool(b): n = SQLDecimal(b ? 1 : 0)
        case let .text(str):
            guard let x = SQLDecimal.parse(str) else { throw invalidInput("numeric", str) }
            n = x
        default: throw cannotCast(v, t)
        }
        if let s {
            n = try n.rescaled(s)
            if let p {
                let limit = try SQLDecimal.pow10(p)
                if (n.unscaled < 0 ? -n.unscaled : n.unscaled) >= limit {
                    throw SQLError(.numericValueOutOfRange, "numeric field overflow")
                }
            }
        }
        return .numeric(n)
    case .text, .varchar, .bpchar:
        var s = v.text(as: nil) ?? ""
        if case let .bool(b) = v { s = b ? "true" : "false" }
        if case let .varchar(n?) = t, s.count > n {
            if s.prefix(n).count == n && s.dropFirst(n).allSatisfy({ $0 == " " }) { s = String(s.prefix(n)) } else {
                throw SQLError(.stringDataRightTruncation, "value too long for type character varying(\(n))")
            }
        }
        if case let .bpchar(n?) = t {
            if s.count > n {
                if s.dropFirst(n).allSatisfy({ $0 == " " }) { s = String(s.prefix(n)) } else {
                    throw SQLError(.stringDataRightTruncation, "value too long for type character(\(n))")
                }
            } else if s.count < n {
                // From bytes: String(repeating: String, count:) appends one string at a time, which
                // dominated COPY into pgbench's char(84) columns.
                s += String(decoding: [UInt8](repeating: UInt8(ascii: " "), count: n - s.count), as: UTF8.self)
            }
        }
        return .text(s)
    case .bytea:
        switch v {
        case .bytes: return v
        case let .text(s):
            if s.hasPrefix("\\x") {
                // Hex pairs; white space may separate pairs (not split one).
                var out: [UInt8] = []
                var hi: UInt8?
                for c in s.utf8.dropFirst(2) {
                    if hi == nil && (c == 32 || c == 9 || c == 10 || c == 13) { continue }
                    guard let h = hexValue(c) else { throw invalidInput("bytea", s) }
                    if let x = hi { out.append(x << 4 | h); hi = nil } else { hi = h }
                }
                if hi != nil { throw invalidInput("bytea", s) }
                return .bytes(out)
            }
            // The escape format: `\\` is a backslash and `\ooo` an octal byte.
            let b = Array(s.utf8)
            var out: [UInt8] = []
            out.reserveCapacity(b.count)
            var i = 0
            while i < b.count {
                guard b[i] == UInt8(ascii: "\\") else { out.append(b[i]); i += 1; continue }
                if i + 1 < b.count && b[i + 1] == UInt8(ascii: "\\") { out.append(b[i]); i += 2; continue }
                guard i + 3 < b.count, (48...51).contains(b[i + 1]), (48...55).contains(b[i + 2]), (48...55).contains(b[i + 3]) else {
                    throw invalidInput("bytea", s)
                }
                out.append((b[i + 1] - 48) << 6 | (b[i + 2] - 48) << 3 | (b[i + 3] - 48))
                i += 4
            }
            return .bytes(out)
        default: break
        }
    case .date:
        switch v {
        case .date: return v
        case let .timestamp(u), let .timestamptz(u): return .date(DateTime.floorDiv(u, DateTime.usPerDay))
        case let .text(s):
            guard let d = DateTime.parseDate(s) ?? DateTime.parseTimestamp(s).map({ DateTime.floorDiv($0, DateTime.usPerDay) }) else {
                throw SQLError(.invalidDatetimeFormat, "invalid input syntax for type date: \"\(s)\"")
            }
            return .date(d)
        default: break
        }
    case .timestamp, .timestamptz:
        var us: Int64
        switch v {
        case let .date(d): us = d * DateTime.usPerDay
        case let .timestamp(u), let .timestamptz(u): us = u
        case let .text(s):
            guard let u = DateTime.parseTimestamp(s, applyOffset: t == .timestamptz) else {
                throw SQLError(.invalidDatetimeFormat, "invalid input syntax for type timestamp: \"\(s)\"")
            }
            us = u
        default: throw cannotCast(v, t)
        }
        return t == .timestamp ? .timestamp(us) : .timestamptz(us)
    case .interval:
        switch v {
        case .interval: return v
        case let .text(s):
            guard let iv = parseInterval(s) else { throw SQLError(.invalidDatetimeFormat, "invalid input syntax for type interval: \"\(s)\"") }
            return iv
        default: break
        }
    case .uuid:
        if case let .text(s) = v { return .text(s.lowercased()) }
    case .json:
        if case let .text(s) = v { _ = try JSONValue.parse(s, jsonb: false); return v }
    case .jsonb:
        if case let .text(s) = v { return .text(try JSONValue.parse(s, jsonb: true).text) }
    case let .vector(n):
        switch v {
        case let .vector(x): return .vector(try VectorValue.checkDimensions(x, n))
        case let .text(s): return .vector(try VectorValue.checkDimensions(try VectorValue.parse(s), n))
        default: break
        }
    case let .array(e):
        return try ArrayValue.cast(v, to: e)
    case .time:
        switch v {
        case .time: return v
        case let .timestamp(u), let .timestamptz(u): return .time(u - DateTime.floorDiv(u, DateTime.usPerDay) * DateTime.usPerDay)
        case let .interval(_, _, u): return .time(((u % DateTime.usPerDay) + DateTime.usPerDay) % DateTime.usPerDay)
        case let .text(s):
            // A timestamp's text gives its time of day, as PostgreSQL's time input accepts.
            if let t = DateTime.parseTime(s) { return .time(t) }
            if s.contains(" ") || s.contains("T"), let u = DateTime.parseTimestamp(s) {
                return .time(u - DateTime.floorDiv(u, DateTime.usPerDay) * DateTime.usPerDay)
            }
            throw SQLError(.invalidDatetimeFormat, "invalid input syntax for type time: \"\(s)\"")
        default: break
        }
    }
    throw cannotCast(v, t)
}

func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 48...57: c - 48
    case 97...102: c - 87
    case 65...70: c - 55
    default: nil
    }
}

func cannotCast(_ v: Value, _ t: SQLType) -> SQLError {
    SQLError(.cannotCoerce, "cannot cast value \(v) to type \(t)")
}

func parseInterval(_ s: String) -> Value? {
    let words = s.lowercased().split(separator: " ")
    var months: Int64 = 0, days: Int64 = 0, micros: Int64 = 0
    var i = 0
    while i < words.count {
        let w = words[i]
        if w.contains(":") {
            let p = w.split(separator: ":")
            guard p.count >= 2, let h = Int64(p[0]), let m = Int64(p[1]) else { return nil }
            let sec = p.count > 2 ? (Double(p[2]) ?? 0) : 0
            let sign: Int64 = w.hasPrefix("-") ? -1 : 1
            micros += h * 3_600_000_000 + sign * (m * 60_000_000 + Int64((sec * 1e6).rounded()))
            i += 1
            continue
        }
        guard let n = Double(w), i + 1 < words.count else { return nil }
        let unit = words[i + 1]
        switch unit {
        case _ where unit.hasPrefix("year"): months += Int64(n * 12)
        case _ where unit.hasPrefix("mon"): months += Int64(n)
        case _ where unit.hasPrefix("week"): days += Int64(n * 7)
        case _ where unit.hasPrefix("day"): days += Int64(n)
        case _ where unit.hasPrefix("hour"): micros += Int64(n * 3_600_000_000)
        case _ where unit.hasPrefix("min"): micros += Int64(n * 60_000_000)
        case _ where unit.hasPrefix("sec"): micros += Int64(n * 1_000_000)
        default: return nil
        }
        i += 2
    }
    return .interval(months: months, days: days, micros: micros)
}

/// The common type two numeric types promote to.
func promoteNumeric(_ a: SQLType, _ b: SQLType) -> SQLType {
    if a.isFloat || b.isFloat { return (a == .float4 && (b == .float4 || b.isInteger)) || (b == .float4 && a.isInteger) ? .float4 : .float8 }
    if a.isNumeric || b.isNumeric { return .numeric(precision: nil, scale: nil) }
    if a == .int8 || b == .int8 || a == .oid || b == .oid { return a == b ? a : .int8 }
    if a == .int4 || b == .int4 { return .int4 }
    return a == .int2 && b == .int2 ? .int2 : .int4
}

/// Arithmetic on values of the given result type.
func arithmetic(_ op: String, _ a: Value, _ b: Value, _ t: SQLType) throws(SQLError) -> Value {
    if a.isNull || b.isNull { return .null }
    switch t {
    case .int2, .int4, .int8, .oid:
        guard case let .int(x) = a, case let .int(y) = b else { break }
        var r: Int64
        var o = false
        switch op {
        case "+": (r, o) = x.addingReportingOverflow(y)
        case "-": (r, o) = x.subtractingReportingOverflow(y)
        case "*": (r, o) = x.multipliedReportingOverflow(by: y)
        case "/":
            if y == 0 { throw SQLError(.divisionByZero, "division by zero") }
            (r, o) = x.dividedReportingOverflow(by: y)
        case "%":
            if y == 0 { throw SQLError(.divisionByZero, "division by zero") }
            r = y == -1 ? 0 : x % y
        default: throw SQLError(.undefinedFunction, "operator does not exist: \(t) \(op) \(t)")
        }
        if o { throw overflow(t) }
        return try checkIntRange(r, t)
    case .float4, .float8:
        let x = toDouble(a), y = toDouble(b)
        var r: Double
        switch op {
        case "+": r = x + y
        case "-": r = x - y
        case "*": r = x * y
        case "/":
            if y == 0 { throw SQLError(.divisionByZero, "division by zero") }
            r = x / y
        case "%": throw SQLError(.undefinedFunction, "operator does not exist: \(t) % \(t)")
        default: throw SQLError(.undefinedFunction, "operator does not exist: \(t) \(op) \(t)")
        }
        if r.isInfinite && x.isFinite && y.isFinite { throw SQLError(.numericValueOutOfRange, "value out of range: overflow") }
        if t == .float4 { r = Double(Float(r)) }
        return .float(r)
    case .numeric:
        let x = toDecimal(a), y = toDecimal(b)
        switch op {
        case "+": return .numeric(try SQLDecimal.add(x, y))
        case "-": return .numeric(try SQLDecimal.add(x, SQLDecimal.negate(y)))
        case "*": return .numeric(try SQLDecimal.multiply(x, y))
        case "/": return .numeric(try SQLDecimal.divide(x, y))
        case "%": return .numeric(try SQLDecimal.modulo(x, y))
        default: break
        }
    default: break
    }
    throw SQLError(.undefinedFunction, "operator does not exist: \(t) \(op) \(t)")
}

func toDouble(_ v: Value) -> Double {
    switch v {
    case let .int(i): Double(i)
    case let .float(d): d
    case let .numeric(n): n.doubleValue
    case let .bool(b): b ? 1 : 0
    default: 0
    }
}

func toDecimal(_ v: Value) -> SQLDecimal {
    switch v {
    case let .int(i): SQLDecimal(i)
    case let .numeric(n): n
    case let .float(d): SQLDecimal.parse(formatFloat(d, single: false)) ?? SQLDecimal(0)
    default: SQLDecimal(0)
    }
}

/// SQL LIKE matching with `%`, `_` and an escape character.
func likeMatch(_ s: [Character], _ p: [Character], escape: Character?, caseInsensitive: Bool) -> Bool {
    let s = caseInsensitive ? Array(String(s).lowercased()) : s
    let p = caseInsensitive ? Array(String(p).lowercased()) : p
    // Iterative matcher with backtracking on the last %.
    var si = 0, pi = 0
    var star = -1, mark = 0
    while si < s.count {
        if pi < p.count {
            let c = p[pi]
            if let e = escape, c == e, pi + 1 < p.count {
                if p[pi + 1] == s[si] { si += 1; pi += 2; continue }
            } else if c == "%" {
                star = pi; mark = si; pi += 1; continue
            } else if c == "_" || c == s[si] {
                si += 1; pi += 1; continue
            }
        }
        if star >= 0 {
            pi = star + 1; mark += 1; si = mark
            continue
        }
        return false
    }
    while pi < p.count && p[pi] == "%" { pi += 1 }
    return pi == p.count
}
