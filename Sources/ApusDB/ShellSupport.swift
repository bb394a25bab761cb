import ApusSQL

/// Splits SQL text into statements at semicolons outside quotes, quoted identifiers, dollar
/// quotes and comments; keeps the unfinished rest for the next line (the shell's multi-line
/// input).
public struct StatementSplitter {
    enum State: Equatable {
        case normal, single, double, lineComment
        case block(depth: Int)
        case dollar(tag: String)
    }

    var state = State.normal
    var buffer = ""

    public init() {}

    /// Whether a statement is partly typed (the shell shows a continuation prompt).
    public var isPending: Bool { !buffer.allSatisfy(\.isWhitespace) }

    /// The text after the last complete statement (an unterminated last statement).
    public var remainder: String { buffer.trimmingCharacters() }

    /// Drops the unfinished statement.
    public mutating func reset() {
        buffer = ""
        state = .normal
    }

    /// Adds a line; returns the statements it completes.
    public mutating func feed(_ line: String) -> [String] {
        var out: [String] = []
        let chars = Array(line + "\n")
        var i = 0
        while i < chars.count {
            let c = chars[i]
            let next: Character? = i + 1 < chars.count ? chars[i + 1] : nil
            switch state {
            case .normal:
                if c == "'" { state = .single } else if c == "\"" { state = .double } else if c == "-" && next == "-" {
                    state = .lineComment
                } else if c == "/" && next == "*" {
                    state = .block(depth: 1)
                    buffer.append(c)
                    i += 1
                    buffer.append("*")
                    i += 1
                    continue
                } else if c == "$", let tag = dollarTag(chars, i) {
                    state = .dollar(tag: tag)
                    buffer += tag
                    i += tag.count
                    continue
                } else if c == ";" {
                    let s = buffer.trimmingCharacters()
                    if !s.isEmpty { out.append(s) }
                    buffer = ""
                    i += 1
                    continue
                }
            case .single: if c == "'" { state = .normal }
            case .double: if c == "\"" { state = .normal }
            case .lineComment: if c == "\n" { state = .normal }
            case let .block(depth):
                if c == "*" && next == "/" {
                    state = depth == 1 ? .normal : .block(depth: depth - 1)
                    buffer += "*/"
                    i += 2
                    continue
                } else if c == "/" && next == "*" {
                    state = .block(depth: depth + 1)
                    buffer += "/*"
                    i += 2
                    continue
                }
            case let .dollar(tag):
                if c == "$" && String(chars[i..<min(chars.count, i + tag.count)]) == tag {
                    state = .normal
                    buffer += tag
                    i += tag.count
                    continue
                }
            }
            buffer.append(c)
            i += 1
        }
        return out
    }

    /// `$tag$` starting at `i`, if one does (`$1` parameters are not tags).
    func dollarTag(_ chars: [Character], _ i: Int) -> String? {
        var j = i + 1
        while j < chars.count, chars[j] == "_" || chars[j].isLetter || (j > i + 1 && chars[j].isNumber) { j += 1 }
        guard j < chars.count, chars[j] == "$" else { return nil }
        return String(chars[i...j])
    }
}

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}

/// psql's aligned table output.
public enum TableFormatter {
    static func isNumeric(_ t: SQLType) -> Bool {
        switch t {
        case .int2, .int4, .int8, .float4, .float8, .numeric: true
        default: false
        }
    }

    /// Header, separator, rows and the `(N rows)` footer, as psql prints them.
    public static func aligned(_ rs: ResultSet) -> String {
        let cols = rs.columns
        let cells: [[String]] = rs.rows.map { row in row.values.enumerated().map { i, v in v.text(as: i < cols.count ? cols[i].type : nil) ?? "" } }
        return aligned(names: cols.map(\.name), numeric: cols.map { isNumeric($0.type) }, cells: cells)
    }

    /// The same for columns given by name, whether each is right-aligned (numbers), and cells.
    public static func aligned(names: [String], numeric: [Bool], cells: [[String]]) -> String {
        var widths = names.map(\.count)
        for r in cells { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        var lines: [String] = []
        var header: [String] = []
        for (i, name) in names.enumerated() {
            let pad = widths[i] - name.count
            header.append(String(repeating: " ", count: pad / 2) + name + String(repeating: " ", count: pad - pad / 2))
        }
        lines.append(" " + header.joined(separator: " | ") + " ")
        lines.append(widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+"))
        for r in cells {
            var parts: [String] = []
            for (i, c) in r.enumerated() where i < widths.count {
                let pad = String(repeating: " ", count: widths[i] - c.count)
                if numeric[i] {
                    parts.append(pad + c)
                } else {
                    parts.append(i == r.count - 1 ? c : c + pad)
                }
            }
            lines.append(" " + parts.joined(separator: " | "))
        }
        lines.append(cells.count == 1 ? "(1 row)" : "(\(cells.count) rows)")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The shell's `\d` family over the catalog.
public enum SchemaFormatter {
    /// `\dt`/`\d`: the tables and views.
    public static func relations(_ c: Catalog) -> String {
        // Tables outside public show as schema.name.
        let byName = Dictionary(c.tables.values.map { ($0.schemaName == "public" ? $0.name : "\($0.schemaName).\($0.name)", $0) }) { a, _ in a }
        let names = byName.keys.sorted()
        if names.isEmpty { return "Did not find any relations.\n" }
        var out = "List of relations\n"
        let w = max(4, names.map(\.count).max() ?? 0)
        out += " " + "Name".padding(w) + " | Type \n"
        out += String(repeating: "-", count: w + 2) + "+-------\n"
        for n in names {
            out += " " + n.padding(w) + " | " + (byName[n]?.viewSQL == nil ? "table" : "view") + "\n"
        }
        return out + "(\(names.count) row\(names.count == 1 ? "" : "s"))\n"
    }

    /// `\d TABLE`: columns with type, nullability and default, then indexes.
    public static func table(_ c: Catalog, _ name: String) -> String? {
        let dotted = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard dotted.count <= 2 else { return nil }
        let schema = dotted.count == 2 ? dotted[0] : "public"
        let bare = dotted.last ?? name
        guard let t = c.tables.values.first(where: { $0.schemaName == schema && $0.name == bare })
            ?? c.tables.values.first(where: { $0.schemaName == schema.lowercased() && $0.name == bare.lowercased() }) else { return nil }
        var out = (t.viewSQL == nil ? "Table" : "View") + " \"\(t.name)\"\n"
        let rows = t.columns.map { col in [col.name, col.typeSQL, col.notNull ? "not null" : "", col.defaultSQL ?? ""] }
        let heads = ["Column", "Type", "Nullable", "Default"]
        var widths = heads.map(\.count)
        for r in rows { for i in r.indices { widths[i] = max(widths[i], r[i].count) } }
        out += " " + heads.enumerated().map { $0.element.padding(widths[$0.offset]) }.joined(separator: " | ") + "\n"
        out += widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "\n"
        for r in rows { out += " " + r.enumerated().map { $0.element.padding(widths[$0.offset]) }.joined(separator: " | ") + "\n" }
        var idx: [String] = []
        if !t.primaryKey.isEmpty {
            idx.append("    \"\(t.name)_pkey\" PRIMARY KEY (\(t.primaryKey.map { t.columns[$0].name }.joined(separator: ", ")))")
        }
        for i in t.indexes {
            let cols = i.columns.compactMap { $0 < t.columns.count ? t.columns[$0].name : nil }.joined(separator: ", ")
            idx.append("    \"\(i.name)\"\(i.unique ? " UNIQUE" : "") (\(cols))")
        }
        if !idx.isEmpty { out += "Indexes:\n" + idx.joined(separator: "\n") + "\n" }
        return out
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
