import ApusCore

/// A SQL type, with the modifiers that change behaviour (lengths, numeric scale).
public indirect enum SQLType: Sendable, Hashable, CustomStringConvertible {
    case bool, int2, int4, int8, float4, float8
    /// An object identifier (unsigned 32-bit; the system catalogs' key type).
    case oid
    case numeric(precision: Int?, scale: Int?)
    case text
    case varchar(Int?)
    case bpchar(Int?)
    case bytea, date, timestamp, timestamptz, interval, uuid, jsonb
    /// Time of day without time zone (microseconds since midnight).
    case time
    /// `json`: validated text, kept as written (jsonb is kept in canonical form).
    case json
    /// pgvector's `vector(n)`: `n` float4 elements (nil: any dimension).
    case vector(Int?)
    /// A one-dimensional array of the element type (`integer[]`).
    case array(SQLType)
    /// An untyped string literal, resolved by context.
    case unknown
    /// The type of a bare NULL.
    case null

    /// The PostgreSQL name, as `format_type` prints it.
    public var description: String {
        switch self {
        case .bool: "boolean"
        case .int2: "smallint"
        case .int4: "integer"
        case .int8: "bigint"
        case .oid: "oid"
        case .float4: "real"
        case .float8: "double precision"
        case let .numeric(p, s): p.map { "numeric(\($0),\(s ?? 0))" } ?? "numeric"
        case .text: "text"
        case let .varchar(n): n.map { "character varying(\($0))" } ?? "character varying"
        case let .bpchar(n): "character(\(n ?? 1))"
        case .bytea: "bytea"
        case .date: "date"
        case .time: "time without time zone"
        case .timestamp: "timestamp without time zone"
        case .timestamptz: "timestamp with time zone"
        case .interval: "interval"
        case .uuid: "uuid"
        case .jsonb: "jsonb"
        case .json: "json"
        case let .vector(n): n.map { "vector(\($0))" } ?? "vector"
        case let .array(e): "\(e)[]"
        case .unknown: "unknown"
        case .null: "unknown"
        }
    }

    var isInteger: Bool { self == .int2 || self == .int4 || self == .int8 || self == .oid }
    var isFloat: Bool { self == .float4 || self == .float8 }
    var isNumeric: Bool { if case .numeric = self { return true }; return false }
    var isNumber: Bool { isInteger || isFloat || isNumeric }
    var isString: Bool {
        switch self {
        case .text, .varchar, .bpchar, .unknown: true
        default: false
        }
    }

    /// Coarse category for operator resolution.
    var category: Int {
        if isNumber { return 1 }
        if isString { return 2 }
        switch self {
        case .bool: return 3
        case .date, .timestamp, .timestamptz: return 4
        case .vector: return 6
        case .time: return 8
        case .array: return 7
        case .null: return 0
        default: return 5
        }
    }

    /// Resolves a parsed type name.
    static func from(_ t: TypeName) throws(SQLError) -> SQLType {
        if !t.arrayBounds.isEmpty {
            // PostgreSQL does not enforce the declared dimensions: `int[][]` and `int[3]` are `int[]`.
            var element = t
            element.arrayBounds = []
            let e = try from(element)
            guard ArrayValue.elementTypeAllowed(e) else { throw SQLError.unsupported("arrays of \(e)") }
            return .array(e)
        }
        var mods: [Int] = []
        for m in t.modifiers {
            if case let .literal(.integer(s)) = m.kind, let v = Int(s) { mods.append(v) } else {
                throw SQLError(.syntaxError, "type modifiers must be simple constants")
            }
        }
        let name = t.name.name
        switch name {
        case "bool", "boolean": return .bool
        case "int2", "smallint": return .int2
        case "int4", "int", "integer", "serial", "serial4": return .int4
        case "int8", "bigint", "bigserial", "serial8": return .int8
        case "float4", "real": return .float4
        case "float8", "double", "float": return .float8
        case "numeric", "decimal":
            return .numeric(precision: mods.first, scale: mods.count > 1 ? mods[1] : (mods.isEmpty ? nil : 0))
        case "text", "string": return .text
        case "varchar": return .varchar(mods.first)
        case "bpchar", "char": return .bpchar(mods.first ?? 1)
        case "bytea", "blob": return .bytea
        case "date": return .date
        case "time": return .time
        case "timestamp": return .timestamp
        case "timestamptz": return .timestamptz
        case "interval": return .interval
        case "uuid": return .uuid
        case "jsonb": return .jsonb
        case "json": return .json
        // Object identifiers are integers here (system catalogs use bigint OIDs).
        case "oid": return .oid
        case "regproc", "xid", "cid": return .int8
        case "vector":
            if let n = mods.first {
                guard n >= 1 else { throw SQLError(SQLState("22023"), "dimensions for type vector must be at least 1") }
                guard n <= VectorValue.maxDimensions else {
                    throw SQLError(SQLState("22023"), "dimensions for type vector cannot exceed \(VectorValue.maxDimensions)")
                }
            }
            return .vector(mods.first)
        default: throw SQLError(.undefinedObject, "type \"\(name)\" does not exist")
        }
    }
}

/// A SQL value. Integers of every width share `.int`; the expression's static type holds the width.
public enum Value: Sendable, Hashable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case numeric(SQLDecimal)
    case text(String)
    case bytes([UInt8])
    /// Days since 2000-01-01.
    case date(Int64)
    /// Microseconds since 2000-01-01 00:00:00.
    case timestamp(Int64)
    /// Microseconds since 2000-01-01 00:00:00 UTC.
    case timestamptz(Int64)
    /// Months, days, microseconds.
    case interval(months: Int64, days: Int64, micros: Int64)
    /// A pgvector `vector`: float4 elements.
    case vector([Float])
    /// A one-dimensional array (lower bound 1); elements may be NULL.
    case array([Value])
    /// Microseconds since midnight, 0 ..< 86,400,000,000 (24:00:00 allowed, as in PostgreSQL).
    case time(Int64)

    /// Whether this is NULL.
    public var isNull: Bool { if case .null = self { return true }; return false }

    /// PostgreSQL's text output for a value of unknown static type.
    public var description: String { text(as: nil) ?? "NULL" }

    /// PostgreSQL's text output, or nil for NULL.
    public func text(as type: SQLType?) -> String? {
        switch self {
        case .null: return nil
        case let .bool(b): return b ? "t" : "f"
        case let .int(i): return String(i)
        case let .float(d): return formatFloat(d, single: type == .float4)
        case let .numeric(n): return n.description
        case let .text(s): return s
        case let .bytes(b):
            let hex: [Character] = Array("0123456789abcdef")
            var s = "\\x"
            for x in b { s.append(hex[Int(x >> 4)]); s.append(hex[Int(x & 15)]) }
            return s
        case let .date(d): return DateTime.formatDate(d)
        case let .timestamp(t): return DateTime.formatTimestamp(t)
        case let .timestamptz(t): return DateTime.formatTimestamp(t) + "+00"
        case let .interval(m, d, us): return DateTime.formatInterval(months: m, days: d, micros: us)
        case let .vector(v): return VectorValue.format(v)
        case let .time(us): return DateTime.formatTime(us)
        case let .array(items):
            if case let .array(e) = type { return ArrayValue.format(items, element: e) }
            return ArrayValue.format(items, element: nil)
        }
    }
}

/// PostgreSQL's float output (extra_float_digits = 1: shortest exact digits).
func formatFloat(_ d: Double, single: Bool) -> String {
    if d.isNaN { return "NaN" }
    if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
    if d == 0 { return d.sign == .minus ? "-0" : "0" }
    let raw = single ? "\(Float(d))" : "\(d)"
    // Split Swift's shortest representation into digits and a decimal exponent.
    var s = Substring(raw)
    var neg = false
    if s.hasPrefix("-") { neg = true; s = s.dropFirst() }
    var exp = 0
    if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        exp = Int(s[s.index(after: e)...]) ?? 0
        s = s[..<e]
    }
    var digits = ""
    var pointPos = 0
    if let dot = s.firstIndex(of: ".") {
        digits = String(s[..<dot]) + String(s[s.index(after: dot)...])
        pointPos = s.distance(from: s.startIndex, to: dot)
    } else {
        digits = String(s)
        pointPos = digits.count
    }
    // normalise: strip leading zeros
    while digits.hasPrefix("0") && digits.count > 1 { digits.removeFirst(); pointPos -= 1 }
    while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
    let decExp = pointPos - 1 + exp // exponent of the first digit
    let limit = single ? 6 : 15
    var out = neg ? "-" : ""
    if decExp < -4 || decExp >= limit {
        out += String(digits.first ?? "0")
        if digits.count > 1 { out += "." + digits.dropFirst() }
        out += decExp < 0 ? "e-" : "e+"
        let a = abs(decExp)
        out += a < 10 ? "0\(a)" : "\(a)"
    } else if decExp < 0 {
        out += "0." + String(repeating: "0", count: -decExp - 1) + digits
    } else {
        if digits.count <= decExp + 1 {
            out += digits + String(repeating: "0", count: decExp + 1 - digits.count)
        } else {
            let i = digits.index(digits.startIndex, offsetBy: decExp + 1)
            out += digits[..<i] + "." + digits[i...]
        }
    }
    return out
}

/// Calendar arithmetic for dates and timestamps (proleptic Gregorian, UTC).
enum DateTime {
    static let usPerDay: Int64 = 86_400_000_000

    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468 - 10_957
    }

    static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468 + 10_957
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func pad(_ v: Int64, _ n: Int) -> String {
        let s = String(v)
        return s.count >= n ? s : String(repeating: "0", count: n - s.count) + s
    }

    static func formatDate(_ days: Int64) -> String {
        let (y, m, d) = civilFromDays(days)
        if y <= 0 { return "\(pad(1 - y, 4))-\(pad(m, 2))-\(pad(d, 2)) BC" }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    static func formatTimestamp(_ us: Int64) -> String {
        let days = floorDiv(us, usPerDay)
        var rest = us - days * usPerDay
        let h = rest / 3_600_000_000; rest %= 3_600_000_000
        let mi = rest / 60_000_000; rest %= 60_000_000
        let sec = rest / 1_000_000
        let frac = rest % 1_000_000
        var s = formatDate(days)
        let bc = s.hasSuffix(" BC")
        if bc { s.removeLast(3) }
        s += " \(pad(h, 2)):\(pad(mi, 2)):\(pad(sec, 2))"
        if frac != 0 {
            var f = pad(frac, 6)
            while f.hasSuffix("0") { f.removeLast() }
            s += "." + f
        }
        return bc ? s + " BC" : s
    }

    /// `HH:MM:SS[.ffffff]`.
    static func formatTime(_ us: Int64) -> String {
        let h = us / 3_600_000_000, mi = us / 60_000_000 % 60, sec = us / 1_000_000 % 60, frac = us % 1_000_000
        var s = "\(pad(h, 2)):\(pad(mi, 2)):\(pad(sec, 2))"
        if frac != 0 {
            var f = pad(frac, 6)
            while f.hasSuffix("0") { f.removeLast() }
            s += "." + f
        }
        return s
    }

    /// `HH:MM[:SS[.ffffff]]` (24:00:00 at most); nil when malformed.
    static func parseTime(_ text: String) -> Int64? {
        let parts = text.trimmingSpaces().split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, let h = Int64(parts[0]), let mi = Int64(parts[1]),
              (0...24).contains(h), (0...59).contains(mi) else { return nil }
        var us = h * 3_600_000_000 + mi * 60_000_000
        if parts.count == 3 {
            guard let sec = Double(parts[2]), sec >= 0, sec < 61, parts[2].first?.isNumber == true else { return nil }
            us += Int64((sec * 1_000_000).rounded())
        }
        return us <= 24 * 3_600_000_000 ? us : nil
    }

    static func formatInterval(months: Int64, days: Int64, micros: Int64) -> String {
        var parts: [String] = []
        let y = months / 12, mo = months % 12
        if y != 0 { parts.append("\(y) year\(abs(y) == 1 ? "" : "s")") }
        if mo != 0 { parts.append("\(mo) mon\(abs(mo) == 1 ? "" : "s")") }
        if days != 0 { parts.append("\(days) day\(abs(days) == 1 ? "" : "s")") }
        if micros != 0 || parts.isEmpty {
            let neg = micros < 0
            var r = abs(micros)
            let h = r / 3_600_000_000; r %= 3_600_000_000
            let mi = r / 60_000_000; r %= 60_000_000
            let sec = r / 1_000_000
            let frac = r % 1_000_000
            var t = (neg ? "-" : "") + "\(pad(h, 2)):\(pad(mi, 2)):\(pad(sec, 2))"
            if frac != 0 {
                var f = pad(frac, 6)
                while f.hasSuffix("0") { f.removeLast() }
                t += "." + f
            }
            if micros != 0 || parts.isEmpty { parts.append(t) }
        }
        return parts.joined(separator: " ")
    }

    static func parseDate(_ text: String) -> Int64? {
        let s = text.trimmingSpaces()
        let comps = s.split(separator: "-", omittingEmptySubsequences: false)
        guard comps.count == 3, let y = Int64(comps[0]), let m = Int64(comps[1]), let d = Int64(comps[2]),
              (1...12).contains(m), (1...31).contains(d) else { return nil }
        let days = daysFromCivil(y, m, d)
        let (y2, m2, d2) = civilFromDays(days)
        guard y2 == y, m2 == m, d2 == d else { return nil }
        return days
    }

    /// `YYYY-MM-DD[ T]HH:MM[:SS[.f]][offset]`; an offset (`Z`, `UTC`, `+05`, `-07:00`, `+0530`)
    /// moves the result to UTC when `applyOffset` (timestamptz); timestamp ignores it, as
    /// PostgreSQL does.
    static func parseTimestamp(_ text: String, applyOffset: Bool = true) -> Int64? {
        var s = text.trimmingSpaces()
        var offset: Int64 = 0
        if s.hasSuffix("Z") {
            s.removeLast()
        } else if s.uppercased().hasSuffix(" UTC") || s.uppercased().hasSuffix(" GMT") {
            s.removeLast(4)
        }
        let sep = s.firstIndex(where: { $0 == " " || $0 == "T" })
        if let sep, let sign = s[s.index(after: sep)...].lastIndex(where: { $0 == "+" || $0 == "-" }) {
            let zone = s[s.index(after: sign)...].filter { $0 != ":" }
            guard zone.count == 2 || zone.count == 4 || zone.count == 6, zone.allSatisfy(\.isNumber),
                  let h = Int64(zone.prefix(2)), h <= 15 else { return nil }
            let m = zone.count >= 4 ? Int64(zone.dropFirst(2).prefix(2)) ?? 0 : 0
            let sec = zone.count == 6 ? Int64(zone.suffix(2)) ?? 0 : 0
            offset = (h * 3600 + m * 60 + sec) * 1_000_000 * (s[sign] == "-" ? -1 : 1)
            s = String(s[..<sign]).trimmingSpaces()
        }
        let datePart = sep.map { String(s[..<$0]) } ?? s
        guard let days = parseDate(datePart) else { return nil }
        var us = days * usPerDay
        if let sep {
            let tp = s[s.index(after: sep)...].split(separator: ":")
            guard tp.count >= 2, let h = Int64(tp[0]), let mi = Int64(tp[1]) else { return nil }
            us += h * 3_600_000_000 + mi * 60_000_000
            if tp.count > 2 {
                guard let secs = Double(tp[2]) else { return nil }
                us += Int64((secs * 1_000_000).rounded())
            }
        }
        return applyOffset ? us - offset : us
    }
}

extension SQLType {
    /// PostgreSQL's type OID (the wire protocol's and `pg_type`'s); text for untyped values.
    public var oid: UInt32 {
        switch self {
        case .bool: 16
        case .int2: 21
        case .int4: 23
        case .int8: 20
        case .oid: 26
        case .float4: 700
        case .float8: 701
        case .numeric: 1700
        case .text: 25
        case .varchar: 1043
        case .bpchar: 1042
        case .bytea: 17
        case .date: 1082
        case .time: 1083
        case .timestamp: 1114
        case .timestamptz: 1184
        case .interval: 1186
        case .uuid: 2950
        case .jsonb: 3802
        case .json: 114
        case .vector: VectorValue.typeOID
        case let .array(e): ArrayValue.arrayOID(of: e)
        case .unknown, .null: 25
        }
    }
}
