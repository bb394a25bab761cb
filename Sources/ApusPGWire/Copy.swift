import ApusCore
import ApusSQL

/// COPY's text and CSV formats (PostgreSQL's rules): decoding client data into rows of
/// optional strings, and encoding result rows.
struct CopyFormat {
    var csv = false
    var delimiter: Character = "\t"
    var null = "\\N"
    var header = false
    var quote: Character = "\""
    var escape: Character = "\""

    init(_ options: [GenericOption]) throws(SQLError) {
        func text(_ o: GenericOption) -> String? {
            switch o.value {
            case let .string(s)?, let .word(s)?, let .number(s)?: return s
            case nil: return nil
            }
        }
        var delimiterSet = false, nullSet = false
        for o in options {
            switch o.name {
            case "format":
                switch text(o) ?? "" {
                case "text": csv = false
                case "csv": csv = true
                case "binary": throw SQLError(SQLState("0A000"), "COPY BINARY is not supported yet")
                default: throw SQLError(SQLState("22023"), "COPY format \"\(text(o) ?? "")\" not recognized")
                }
            case "csv": csv = true
            case "delimiter":
                guard let d = text(o), d.count == 1 else {
                    throw SQLError(SQLState("0A000"), "COPY delimiter must be a single one-byte character")
                }
                delimiter = d.first ?? "\t"
                delimiterSet = true
            case "null":
                null = text(o) ?? ""
                nullSet = true
            case "header":
                let v = text(o)?.lowercased()
                header = v == nil || ["true", "on", "1", "match"].contains(v ?? "")
            case "quote": quote = text(o)?.first ?? "\""
            case "escape": escape = text(o)?.first ?? "\""
            case "freeze", "encoding", "force_not_null", "force_null", "force_quote": continue
            default: throw SQLError(SQLState("42601"), "option \"\(o.name)\" not recognized")
            }
        }
        if csv {
            if !delimiterSet { delimiter = "," }
            if !nullSet { null = "" }
        }
    }

    /// The rows of `data` (NULL as nil).
    func decode(_ data: [UInt8]) throws(SQLError) -> [[String?]] {
        let text = String(decoding: data, as: UTF8.self)
        var rows = csv ? try decodeCSV(text) : decodeText(text)
        if header && !rows.isEmpty { rows.removeFirst() }
        return rows
    }

    func decodeText(_ text: String) -> [[String?]] {
        var rows: [[String?]] = []
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line == "\\." { break }
            if line.isEmpty && rawLine.isEmpty { continue }
            var fields: [String?] = []
            var cur = ""
            var raw = ""
            var it = line.makeIterator()
            func finish() {
                fields.append(raw == null ? nil : cur)
                cur = ""
                raw = ""
            }
            while let c = it.next() {
                if c == delimiter {
                    finish()
                } else if c == "\\", let e = it.next() {
                    raw.append(c)
                    raw.append(e)
                    switch e {
                    case "b": cur.append("\u{08}")
                    case "f": cur.append("\u{0C}")
                    case "n": cur.append("\n")
                    case "r": cur.append("\r")
                    case "t": cur.append("\t")
                    case "v": cur.append("\u{0B}")
                    default: cur.append(e)
                    }
                } else {
                    cur.append(c)
                    raw.append(c)
                }
            }
            finish()
            rows.append(fields)
        }
        return rows
    }

    func decodeCSV(_ text: String) throws(SQLError) -> [[String?]] {
        var rows: [[String?]] = []
        var fields: [String?] = []
        var cur = ""
        var quoted = false
        var inQuotes = false
        var any = false
        let chars = Array(text)
        var i = 0
        func endField() {
            fields.append(!quoted && cur == null ? nil : cur)
            cur = ""
            quoted = false
        }
        while i < chars.count {
            let c = chars[i]
            if inQuotes {
                if c == escape && i + 1 < chars.count && chars[i + 1] == quote {
                    cur.append(quote)
                    i += 2
                    continue
                }
                if c == quote { inQuotes = false } else { cur.append(c) }
                i += 1
                continue
            }
            if c == quote {
                inQuotes = true
                quoted = true
                any = true
            } else if c == delimiter {
                endField()
                any = true
            } else if c == "\n" || c == "\r" {
                if c == "\r" && i + 1 < chars.count && chars[i + 1] == "\n" { i += 1 }
                if any || !cur.isEmpty {
                    endField()
                    if fields == ["\\."] { return rows }
                    rows.append(fields)
                }
                fields = []
                any = false
            } else {
                cur.append(c)
                any = true
            }
            i += 1
        }
        if inQuotes { throw SQLError(SQLState("22P04"), "unterminated CSV quoted field") }
        if any || !cur.isEmpty {
            endField()
            if fields != ["\\."] { rows.append(fields) }
        }
        return rows
    }

    /// One row in this format, with its line end.
    func encode(_ values: [String?]) -> [UInt8] {
        var parts: [String] = []
        for v in values {
            guard let v else {
                parts.append(null)
                continue
            }
            if csv {
                let needs = v.isEmpty || v.contains(delimiter) || v.contains(quote) || v.contains("\n") || v.contains("\r")
                parts.append(needs ? String(quote) + v.replacingOccurrences(of: String(quote), with: String(escape) + String(quote)) + String(quote) : v)
            } else {
                var s = ""
                for c in v {
                    switch c {
                    case "\\": s += "\\\\"
                    case "\n": s += "\\n"
                    case "\r": s += "\\r"
                    case "\t": s += "\\t"
                    case delimiter: s += "\\" + String(c)
                    default: s.append(c)
                    }
                }
                parts.append(s)
            }
        }
        return Array((parts.joined(separator: String(delimiter)) + "\n").utf8)
    }
}

/// Quotes an identifier for generated SQL.
func quoteIdent(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
