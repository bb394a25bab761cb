import ApusCore

/// One-dimensional arrays: PostgreSQL's text form (`array_in` / `array_out`), type OIDs,
/// ordering and casts. Values are `Value.array`, always with lower bound 1.
public enum ArrayValue {
    /// Arrays hold scalars; arrays of arrays are one array in PostgreSQL and are not built here.
    static func elementTypeAllowed(_ t: SQLType) -> Bool {
        switch t {
        case .array, .unknown, .null: false
        default: true
        }
    }

    /// The OIDs of PostgreSQL's array types, by element type (`_int4` is 1007).
    public static func arrayOID(of e: SQLType) -> UInt32 {
        switch e {
        case .bool: 1000
        case .bytea: 1001
        case .int2: 1005
        case .int4: 1007
        case .text: 1009
        case .bpchar: 1014
        case .varchar: 1015
        case .int8: 1016
        case .oid: 1028
        case .float4: 1021
        case .float8: 1022
        case .timestamp: 1115
        case .date: 1182
        case .time: 1183
        case .timestamptz: 1185
        case .interval: 1187
        case .numeric: 1231
        case .uuid: 2951
        case .jsonb: 3807
        case .json: 199
        case .vector: VectorValue.arrayTypeOID
        case .array, .unknown, .null: 1009
        }
    }

    /// The element types of the array OIDs above, for parameter OIDs sent by clients.
    public static let elementTypes: [UInt32: SQLType] = [
        1000: .bool, 1001: .bytea, 1005: .int2, 1007: .int4, 1009: .text, 1014: .bpchar(nil), 1015: .varchar(nil),
        1016: .int8, 1021: .float4, 1022: .float8, 1115: .timestamp, 1182: .date, 1183: .time, 1185: .timestamptz, 1187: .interval,
        1231: .numeric(precision: nil, scale: nil), 2951: .uuid, 3807: .jsonb, 199: .json, 1028: .oid,
    ]

    /// `array_out`: `{1,2,NULL}`; an element is quoted when it is empty, reads as NULL, or holds
    /// a brace, comma, quote, backslash or white space, with `"` and `\` escaped by a backslash.
    static func format(_ items: [Value], element: SQLType?) -> String {
        var out = "{"
        for (i, v) in items.enumerated() {
            if i > 0 { out += "," }
            guard var s = v.text(as: element) else { out += "NULL"; continue }
            if case let .bool(b) = v { s = b ? "t" : "f" }
            if needsQuotes(s) {
                out += "\""
                for c in s.unicodeScalars {
                    if c == "\"" || c == "\\" { out += "\\" }
                    out.unicodeScalars.append(c)
                }
                out += "\""
            } else {
                out += s
            }
        }
        return out + "}"
    }

    static func needsQuotes(_ s: String) -> Bool {
        if s.isEmpty || s.lowercased() == "null" { return true }
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: ","), UInt8(ascii: "\""), UInt8(ascii: "\\"),
                 32, 9, 10, 11, 12, 13:
                return true
            default: continue
            }
        }
        return false
    }

    static func malformed(_ s: String, _ detail: String) -> SQLError {
        // PostgreSQL gives `detail` as DETAIL; errors here carry no detail field yet.
        _ = detail
        return SQLError(.invalidTextRepresentation, "malformed array literal: \"\(s)\"")
    }

    /// `array_in`'s syntax: the elements' text (nil for an unquoted NULL). Only one dimension
    /// is accepted; a nested brace fails with 0A000.
    static func parseElements(_ s: String) throws(SQLError) -> [String?] {
        let b = Array(s.utf8)
        var i = 0
        func isSpace(_ c: UInt8) -> Bool { c == 32 || (9...13).contains(c) }
        while i < b.count && isSpace(b[i]) { i += 1 }
        if i < b.count && b[i] == UInt8(ascii: "[") {
            throw SQLError.unsupported("array literals with explicit bounds")
        }
        guard i < b.count, b[i] == UInt8(ascii: "{") else {
            throw malformed(s, "Array value must start with \"{\" or dimension information.")
        }
        i += 1
        var items: [String?] = []
        var expectElement = true
        var closed = false
        while i < b.count {
            let c = b[i]
            if isSpace(c) { i += 1; continue }
            if c == UInt8(ascii: "}") {
                if !items.isEmpty && expectElement { throw malformed(s, "Unexpected \"}\" character.") }
                i += 1
                closed = true
                break
            }
            if c == UInt8(ascii: ",") {
                if expectElement { throw malformed(s, "Unexpected \",\" character.") }
                expectElement = true
                i += 1
                continue
            }
            guard expectElement else { throw malformed(s, "Expected \",\" or \"}\".") }
            if c == UInt8(ascii: "{") { throw SQLError.unsupported("multidimensional arrays") }
            var bytes: [UInt8] = []
            if c == UInt8(ascii: "\"") {
                i += 1
                var ended = false
                while i < b.count {
                    if b[i] == UInt8(ascii: "\\") {
                        guard i + 1 < b.count else { break }
                        bytes.append(b[i + 1]); i += 2
                    } else if b[i] == UInt8(ascii: "\"") {
                        ended = true; i += 1; break
                    } else {
                        bytes.append(b[i]); i += 1
                    }
                }
                guard ended else { throw malformed(s, "Unexpected end of input.") }
                items.append(String(decoding: bytes, as: UTF8.self))
            } else {
                var escaped = false
                var lastKept = 0
                while i < b.count {
                    let x = b[i]
                    if x == UInt8(ascii: "\\") {
                        guard i + 1 < b.count else { throw malformed(s, "Unexpected end of input.") }
                        bytes.append(b[i + 1]); i += 2; escaped = true; lastKept = bytes.count
                        continue
                    }
                    if x == UInt8(ascii: ",") || x == UInt8(ascii: "}") { break }
                    if x == UInt8(ascii: "{") || x == UInt8(ascii: "\"") { throw malformed(s, "Unexpected array element.") }
                    bytes.append(x)
                    if !isSpace(x) { lastKept = bytes.count }
                    i += 1
                }
                bytes.removeLast(bytes.count - lastKept)
                let text = String(decoding: bytes, as: UTF8.self)
                items.append(!escaped && text.lowercased() == "null" ? nil : text)
            }
            expectElement = false
        }
        guard closed else { throw malformed(s, "Unexpected end of input.") }
        while i < b.count {
            guard isSpace(b[i]) else { throw malformed(s, "Junk after closing right brace.") }
            i += 1
        }
        return items
    }

    /// Parses the text form into elements of type `e`.
    static func parse(_ s: String, element e: SQLType) throws(SQLError) -> Value {
        var out: [Value] = []
        for item in try parseElements(s) {
            guard let item else { out.append(.null); continue }
            out.append(try castValue(.text(item), to: e))
        }
        return .array(out)
    }

    /// Total order of arrays: element by element (NULL elements after all others), then the
    /// shorter array first, as PostgreSQL's btree opclass orders them.
    static func compare(_ x: [Value], _ y: [Value]) -> Int {
        let n = min(x.count, y.count)
        for i in 0..<n {
            let c = Value.compare(x[i], y[i])
            if c != 0 { return c }
        }
        return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
    }

    /// Casts every element (a NULL array stays NULL).
    static func cast(_ v: Value, to e: SQLType) throws(SQLError) -> Value {
        switch v {
        case let .array(items):
            var out: [Value] = []
            out.reserveCapacity(items.count)
            for x in items { out.append(try castValue(x, to: e)) }
            return .array(out)
        case let .text(s): return try parse(s, element: e)
        default: throw cannotCast(v, .array(e))
        }
    }
}
