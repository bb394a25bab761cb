import ApusCore

/// A parsed JSON document. `json` values are kept as the text the user wrote (validated);
/// `jsonb` values as the canonical text `JSONValue.canonical` writes, which is what PostgreSQL
/// prints for jsonb: object keys deduplicated (the last wins) and ordered by length, then bytes;
/// `", "` and `": "` separators; numbers as numerics.
indirect enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// The number's text (canonical numeric text for jsonb).
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in order (json keeps duplicates; jsonb has unique keys in canonical order).
    case object([JSONMember])

    /// The nesting PostgreSQL allows before "stack depth limit exceeded"; deeper input fails
    /// with 54001 here rather than overflowing the stack.
    static let maxDepth = 1000

    static func invalid(_ type: String, _ text: String) -> SQLError {
        SQLError(.invalidTextRepresentation, "invalid input syntax for type \(type)")
    }

    /// Parses JSON text (RFC 8259); 22P02 for bad syntax, 22P05 for `\u0000` in jsonb.
    static func parse(_ text: String, jsonb: Bool) throws(SQLError) -> JSONValue {
        var p = JSONParser(bytes: Array(text.utf8), typeName: jsonb ? "jsonb" : "json", jsonb: jsonb)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.pos == p.bytes.count else { throw invalid(p.typeName, text) }
        return jsonb ? v.normalized : v
    }

    /// jsonb's form: keys unique (last wins) and sorted by length then bytes, recursively;
    /// numbers as numerics print (`1e2` is `100`).
    var normalized: JSONValue {
        switch self {
        case let .number(n):
            if let d = SQLDecimal.parse(n) { return .number(d.description) }
            return self
        case let .array(items): return .array(items.map(\.normalized))
        case let .object(members):
            var last: [String: JSONValue] = [:]
            for m in members { last[m.key] = m.value.normalized }
            let keys = last.keys.sorted(by: JSONValue.keyOrder)
            return .object(keys.map { JSONMember(key: $0, value: last[$0] ?? .null) })
        default: return self
        }
    }

    static func keyOrder(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        return x.count != y.count ? x.count < y.count : x.lexicographicallyPrecedes(y)
    }

    /// PostgreSQL's output: jsonb spacing (`{"a": 1, "b": [1, 2]}`).
    var text: String {
        var out = ""
        write(&out)
        return out
    }

    func write(_ out: inout String) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .number(n): out += n
        case let .string(s): out += JSONValue.quote(s)
        case let .array(items):
            out += "["
            for (i, x) in items.enumerated() {
                if i > 0 { out += ", " }
                x.write(&out)
            }
            out += "]"
        case let .object(members):
            out += "{"
            for (i, m) in members.enumerated() {
                if i > 0 { out += ", " }
                out += JSONValue.quote(m.key)
                out += ": "
                m.value.write(&out)
            }
            out += "}"
        }
    }

    /// jsonb_pretty: four spaces per level, one member or element per line.
    func pretty(_ indent: Int = 0) -> String {
        let pad = String(repeating: " ", count: 4 * (indent + 1)), end = String(repeating: " ", count: 4 * indent)
        switch self {
        case let .array(items) where !items.isEmpty:
            return "[\n" + items.map { pad + $0.pretty(indent + 1) }.joined(separator: ",\n") + "\n" + end + "]"
        case let .object(members) where !members.isEmpty:
            return "{\n" + members.map { pad + JSONValue.quote($0.key) + ": " + $0.value.pretty(indent + 1) }.joined(separator: ",\n")
                + "\n" + end + "}"
        case .array: return "[\n" + end + "]"
        case .object: return "{\n" + end + "}"
        default: return text
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where u.value < 0x20:
                let hex = Array("0123456789abcdef")
                out += "\\u00" + String(hex[Int(u.value >> 4)]) + String(hex[Int(u.value & 15)])
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// json_typeof's names.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// The `->>` text of a value: strings unquoted, null as SQL NULL, the rest as JSON.
    var scalarText: Value {
        switch self {
        case .null: .null
        case let .string(s): .text(s)
        default: .text(text)
        }
    }

    /// Object member `key` (the last of duplicates, as PostgreSQL's json `->` finds it).
    func member(_ key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    /// Array element `i` (negative counts from the end).
    func element(_ i: Int64) -> JSONValue? {
        guard case let .array(items) = self else { return nil }
        let k = i < 0 ? Int64(items.count) + i : i
        return k >= 0 && k < Int64(items.count) ? items[Int(k)] : nil
    }

    /// Follows a path of keys and array indexes (`#>`).
    func path(_ steps: [String]) -> JSONValue? {
        var cur = self
        for s in steps {
            switch cur {
            case .object: guard let n = cur.member(s) else { return nil }; cur = n
            case .array: guard let i = Int64(s), let n = cur.element(i) else { return nil }; cur = n
            default: return nil
            }
        }
        return cur
    }

    /// jsonb containment (`@>`): objects contain objects member-wise, arrays contain arrays
    /// element-wise in any order (an array also contains a scalar it holds), scalars are equal.
    func contains(_ other: JSONValue) -> Bool {
        switch (self, other) {
        case let (.object(a), .object(b)):
            return b.allSatisfy { m in a.contains { $0.key == m.key && $0.value.contains(m.value) } }
        case let (.array(a), .array(b)):
            return b.allSatisfy { x in a.contains { y in
                if case .array = x, case .array = y { return y.contains(x) }
                if case .object = x, case .object = y { return y.contains(x) }
                return x == y
            } }
        case let (.array(a), _):
            if case .array = other { return false }
            if case .object = other { return false }
            return a.contains(other)
        default:
            return self == other
        }
    }

    /// `?`: a key of an object, a string element of an array, or an equal string scalar.
    func hasKey(_ k: String) -> Bool {
        switch self {
        case let .object(m): m.contains { $0.key == k }
        case let .array(items): items.contains(.string(k))
        case let .string(s): s == k
        default: false
        }
    }
}

/// An object member.
struct JSONMember: Hashable, Sendable {
    var key: String
    var value: JSONValue
}

/// A recursive-descent JSON reader over UTF-8 bytes.
struct JSONParser {
    let bytes: [UInt8]
    let typeName: String
    let jsonb: Bool
    var pos = 0

    init(bytes: [UInt8], typeName: String, jsonb: Bool) {
        self.bytes = bytes
        self.typeName = typeName
        self.jsonb = jsonb
    }

    func fail() -> SQLError { SQLError(.invalidTextRepresentation, "invalid input syntax for type \(typeName)") }

    mutating func skipSpace() {
        while pos < bytes.count, [32, 9, 10, 13].contains(bytes[pos]) { pos += 1 }
    }

    mutating func literal(_ word: String, _ v: JSONValue) throws(SQLError) -> JSONValue {
        let w = Array(word.utf8)
        guard pos + w.count <= bytes.count, Array(bytes[pos..<pos + w.count]) == w else { throw fail() }
        pos += w.count
        return v
    }

    mutating func value(depth: Int) throws(SQLError) -> JSONValue {
        guard depth < JSONValue.maxDepth else { throw SQLError(.stackDepth, "stack depth limit exceeded") }
        guard pos < bytes.count else { throw fail() }
        switch bytes[pos] {
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "["):
            pos += 1
            var items: [JSONValue] = []
            skipSpace()
            if pos < bytes.count && bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array([]) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard pos < bytes.count else { throw fail() }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                throw fail()
            }
        case UInt8(ascii: "{"):
            pos += 1
            var members: [JSONMember] = []
            skipSpace()
            if pos < bytes.count && bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object([]) }
            while true {
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw fail() }
                let key = try string()
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw fail() }
                pos += 1
                skipSpace()
                members.append(JSONMember(key: key, value: try value(depth: depth + 1)))
                skipSpace()
                guard pos < bytes.count else { throw fail() }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
                throw fail()
            }
        default: return .number(try number())
        }
    }

    mutating func number() throws(SQLError) -> String {
        let start = pos
        func digits() -> Int {
            let s = pos
            while pos < bytes.count, (48...57).contains(bytes[pos]) { pos += 1 }
            return pos - s
        }
        if pos < bytes.count && bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.count else { throw fail() }
        if bytes[pos] == UInt8(ascii: "0") { pos += 1 } else if digits() == 0 { throw fail() }
        if pos < bytes.count && bytes[pos] == UInt8(ascii: ".") {
            pos += 1
            guard digits() > 0 else { throw fail() }
        }
        if pos < bytes.count && (bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E")) {
            pos += 1
            if pos < bytes.count && (bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-")) { pos += 1 }
            guard digits() > 0 else { throw fail() }
        }
        return String(decoding: bytes[start..<pos], as: UTF8.self)
    }

    mutating func hex4() throws(SQLError) -> UInt32 {
        guard pos + 4 <= bytes.count else { throw fail() }
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let h = hexValue(bytes[pos]) else { throw fail() }
            v = v << 4 | UInt32(h)
            pos += 1
        }
        return v
    }

    mutating func string() throws(SQLError) -> String {
        pos += 1 // opening quote
        var out: [UInt8] = []
        while pos < bytes.count {
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") { pos += 1; return String(decoding: out, as: UTF8.self) }
            if c < 0x20 { throw fail() }
            if c != UInt8(ascii: "\\") { out.append(c); pos += 1; continue }
            pos += 1
            guard pos < bytes.count else { throw fail() }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                var u = try hex4()
                if (0xD800..<0xDC00).contains(u) {
                    // A high surrogate must be followed by an escaped low one.
                    guard pos + 2 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else { throw fail() }
                    pos += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail() }
                    u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(u) {
                    throw fail()
                }
                if u == 0 && jsonb { throw SQLError(SQLState("22P05"), "unsupported Unicode escape sequence") }
                guard let scalar = Unicode.Scalar(u) else { throw fail() }
                out += Array(String(Character(scalar)).utf8)
            default: throw fail()
            }
        }
        throw fail()
    }
}

extension JSONValue {
    /// to_json of a SQL value: numbers and booleans as such, arrays as arrays, json as itself,
    /// timestamps in ISO 8601 form, everything else as a string.
    static func from(_ v: Value, _ t: SQLType?) -> JSONValue {
        switch v {
        case .null: return .null
        case let .bool(b): return .bool(b)
        case .int, .numeric: return .number(v.text(as: t) ?? "0")
        case let .float(d): return d.isFinite ? .number(v.text(as: t) ?? "0") : .string(v.text(as: t) ?? "")
        case let .array(items):
            let e: SQLType? = if case let .array(x) = t { x } else { nil }
            return .array(items.map { from($0, e) })
        case let .timestamp(us), let .timestamptz(us):
            var s = DateTime.formatTimestamp(us).replacingOccurrences(of: " ", with: "T")
            if case .timestamptz = v { s += "+00:00" }
            return .string(s)
        case let .text(s):
            if t == .json || t == .jsonb, let j = try? parse(s, jsonb: false) { return j }
            return .string(s)
        default: return .string(v.text(as: t) ?? "")
        }
    }
}

extension JSONParser {
    /// The children of a json document's top level, each as the exact text written: array
    /// elements (no keys) or object members (with keys); nil for a scalar. json (unlike jsonb)
    /// returns sub-documents as written, so `->` and json_array_elements use these spans.
    static func rawChildren(_ text: String) throws(SQLError) -> [(key: String?, raw: String)]? {
        var p = JSONParser(bytes: Array(text.utf8), typeName: "json", jsonb: false)
        p.skipSpace()
        guard p.pos < p.bytes.count else { throw p.fail() }
        let open = p.bytes[p.pos]
        guard open == UInt8(ascii: "[") || open == UInt8(ascii: "{") else { return nil }
        let close = open == UInt8(ascii: "[") ? UInt8(ascii: "]") : UInt8(ascii: "}")
        p.pos += 1
        var out: [(key: String?, raw: String)] = []
        p.skipSpace()
        if p.pos < p.bytes.count && p.bytes[p.pos] == close { return out }
        while true {
            p.skipSpace()
            var key: String?
            if open == UInt8(ascii: "{") {
                guard p.pos < p.bytes.count, p.bytes[p.pos] == UInt8(ascii: "\"") else { throw p.fail() }
                key = try p.string()
                p.skipSpace()
                guard p.pos < p.bytes.count, p.bytes[p.pos] == UInt8(ascii: ":") else { throw p.fail() }
                p.pos += 1
                p.skipSpace()
            }
            let start = p.pos
            _ = try p.value(depth: 1)
            out.append((key, String(decoding: p.bytes[start..<p.pos], as: UTF8.self)))
            p.skipSpace()
            guard p.pos < p.bytes.count else { throw p.fail() }
            if p.bytes[p.pos] == UInt8(ascii: ",") { p.pos += 1; continue }
            if p.bytes[p.pos] == close { return out }
            throw p.fail()
        }
    }

    /// The raw text of one child: an object member by key (the last of duplicates) or an array
    /// element by index (`step` as text; negative counts from the end).
    static func rawChild(_ text: String, _ step: Value) throws(SQLError) -> String? {
        guard let children = try rawChildren(text) else { return nil }
        switch step {
        case let .text(k):
            if children.first?.key == nil {
                guard let i = Int64(k) else { return nil }
                return try rawChild(text, .int(i))
            }
            return children.last { $0.key == k }?.raw
        case let .int(i):
            guard children.first?.key == nil || children.isEmpty else { return nil }
            let k = i < 0 ? Int64(children.count) + i : i
            return k >= 0 && k < Int64(children.count) ? children[Int(k)].raw : nil
        default: return nil
        }
    }
}
