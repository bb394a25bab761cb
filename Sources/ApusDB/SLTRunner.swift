import ApusCore
import ApusSQL
import Foundation

/// Runs sqllogictest files in-process with the rules of the reference runner
/// (`shared/conformance/slt_runner.py`): engine name `postgresql`, value rendering by file
/// kind (`.test` classic, `.slt` text), sort modes, hashing, labels, `--max-records`.
public struct SLTRunner {
    /// Counts for one file.
    public struct FileResult: Sendable {
        public var file: String
        public var passed = 0
        public var failed = 0
        public var skipped = 0
        public var error: String?
        public var failures: [String] = []
        public var seconds = 0.0
    }

    /// At most this many statement/query records per file (0: all).
    public var maxRecords: Int
    /// Keep up to this many failure descriptions per file.
    public var showFailures: Int
    /// Engine names for skipif/onlyif.
    public var engines: Set<String> = ["postgresql"]

    /// Makes a runner.
    public init(maxRecords: Int = 0, showFailures: Int = 0) {
        self.maxRecords = maxRecords
        self.showFailures = showFailures
    }

    struct Record {
        var kind: String
        var line: Int
        var conditions: [(String, String)] = []
        var sql = ""
        var expectError = false
        var expectCount: Int?
        var types = ""
        var sortMode: String?
        var label: String?
        var expected: [String]?
        var arg = ""
    }

    static func lines(_ text: String) -> [String] {
        // Split on bytes: Swift treats "\r\n" as one Character.
        var out = text.utf8.split(separator: 10, omittingEmptySubsequences: false).map { raw -> String in
            var bytes = Array(raw)
            if bytes.last == 13 { bytes.removeLast() }
            let x = String(decoding: bytes, as: UTF8.self)
            return x.unicodeScalars.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" }) ? "" : x
        }
        if out.last == "" && text.utf8.last == 10 { out.removeLast() }
        return out
    }

    static func splitDashes(_ body: [String]) -> ([String], [String]?) {
        for (k, l) in body.enumerated() where l.trimmingCharacters(in: .whitespaces) == "----" {
            return (Array(body[..<k]), Array(body[(k + 1)...]))
        }
        return (body, nil)
    }

    static func parse(_ text: String) -> [Record] {
        let lines = lines(text)
        let n = lines.count
        var i = 0
        var out: [Record] = []
        func toks(_ s: String) -> [String] { s.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }
        while true {
            while i < n && (lines[i].isEmpty || lines[i].hasPrefix("#")) { i += 1 }
            if i >= n { return out }
            var conditions: [(String, String)] = []
            var t = toks(lines[i])
            while let f = t.first, f == "skipif" || f == "onlyif" {
                conditions.append((f, t.count > 1 ? t[1] : ""))
                i += 1
                while i < n && lines[i].hasPrefix("#") { i += 1 }
                if i >= n || lines[i].isEmpty { t = []; break }
                t = toks(lines[i])
            }
            guard let head = t.first else { continue }
            let first = i + 1
            var body: [String] = []
            var j = i + 1
            while j < n && !lines[j].isEmpty {
                if !lines[j].hasPrefix("#") { body.append(lines[j]) }
                j += 1
            }
            if (head == "statement" || head == "query") && t.count > 1 && t[1] == "error"
                && body.contains(where: { $0.trimmingCharacters(in: .whitespaces) == "----" }) {
                while j < n {
                    if lines[j].isEmpty && (j + 1 >= n || lines[j + 1].isEmpty) { break }
                    body.append(lines[j])
                    j += 1
                }
            }
            i = j
            switch head {
            case "statement":
                let (sql, _) = splitDashes(body)
                var r = Record(kind: "statement", line: first, conditions: conditions, sql: sql.joined(separator: "\n"))
                let mode = t.count > 1 ? t[1] : ""
                if mode == "ok" {
                } else if mode == "error" {
                    r.expectError = true
                } else if mode == "count", t.count > 2, let c = Int(t[2]) {
                    r.expectCount = c
                } else {
                    r = Record(kind: "unsupported", line: first, conditions: conditions, arg: lines[first - 1])
                }
                out.append(r)
            case "query":
                let (sql, exp) = splitDashes(body)
                var r = Record(kind: "query", line: first, conditions: conditions, sql: sql.joined(separator: "\n"))
                if t.count > 1 && t[1] == "error" {
                    r.expectError = true
                } else {
                    r.types = t.count > 1 ? t[1] : ""
                    var extra = Array(t.dropFirst(2))
                    if let e = extra.first, ["nosort", "rowsort", "valuesort"].contains(e) { r.sortMode = e; extra.removeFirst() }
                    if let e = extra.first, e != "retry" { r.label = e }
                    r.expected = exp ?? []
                }
                out.append(r)
            case "hash-threshold": out.append(Record(kind: "hash-threshold", line: first, conditions: conditions, arg: t.count > 1 ? t[1] : "0"))
            case "halt": out.append(Record(kind: "halt", line: first, conditions: conditions))
            case "control": out.append(Record(kind: "control", line: first, conditions: conditions, arg: t.dropFirst().joined(separator: " ")))
            case "mode" where t.count > 1 && (t[1] == "skip" || t[1] == "unskip"):
                out.append(Record(kind: "mode", line: first, conditions: conditions, arg: t[1]))
            case "subtest", "sleep": continue
            default: out.append(Record(kind: "unsupported", line: first, conditions: conditions, arg: lines[first - 1]))
            }
        }
    }

    func applies(_ r: Record) -> Bool {
        var skip = false
        for (c, name) in r.conditions {
            let m = engines.contains(name.lowercased())
            if c == "skipif" && m { skip = true }
            if c == "onlyif" && !m { skip = true }
        }
        return !skip
    }

    // MARK: rendering (slt_runner.py's render_value)

    static func isInt(_ t: String) -> Bool {
        var s = Substring(t)
        if s.first == "+" || s.first == "-" { s = s.dropFirst() }
        return !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber }
    }

    static func numericPrefix(_ t: String) -> Double {
        let s = t.drop(while: { $0 == " " || $0 == "\t" || $0 == "\n" })
        var end = s.startIndex
        var best: Double = 0
        var idx = s.startIndex
        while idx < s.endIndex {
            idx = s.index(after: idx)
            if let d = Double(s[s.startIndex..<idx]), !s[s.startIndex..<idx].lowercased().contains("n"), !s[s.startIndex..<idx].lowercased().contains("x") {
                best = d; end = idx
            }
        }
        _ = end
        return best
    }

    static func classicText(_ s: String) -> String {
        if s.isEmpty { return "(empty)" }
        return String(s.utf8.map { $0 >= 32 && $0 <= 126 ? Character(Unicode.Scalar($0)) : "@" })
    }

    static func render(_ text: String?, _ type: Character, classic: Bool) -> String {
        guard let text else { return "NULL" }
        if !classic { return text.isEmpty ? "(empty)" : text }
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if type == "I" {
            if isInt(t) { return String(Int(t.hasPrefix("+") ? String(t.dropFirst()) : t).map(String.init) ?? bigTruncate(t)) }
            if t == "t" || t == "true" { return "1" }
            if t == "f" || t == "false" { return "0" }
            if let d = SQLDecimal.parse(t) { return truncDecimal(d) }
            let d = numericPrefix(t)
            if d.isFinite, let x = SQLDecimal.parse(String(format: "%.0f", d.rounded(.towardZero))) { return truncDecimal(x) }
            return classicText(text)
        }
        if type == "R" {
            if t == "t" || t == "true" { return "1.000" }
            if t == "f" || t == "false" { return "0.000" }
            if let d = Double(t) { return String(format: "%.3f", d) }
            return String(format: "%.3f", numericPrefix(t))
        }
        return classicText(text)
    }

    static func bigTruncate(_ t: String) -> String {
        var s = t
        if s.hasPrefix("+") { s.removeFirst() }
        let neg = s.hasPrefix("-")
        if neg { s.removeFirst() }
        while s.hasPrefix("0") && s.count > 1 { s.removeFirst() }
        return (neg && s != "0" ? "-" : "") + s
    }

    static func truncDecimal(_ d: SQLDecimal) -> String {
        var u = d.unscaled
        for _ in 0..<d.scale { u /= 10 }
        return String(u)
    }

    static func md5(_ values: [String]) -> String {
        var h = MD5()
        for v in values { h.update(Array(v.utf8)); h.update([10]) }
        return h.finalizeHex()
    }

    static func norm(_ s: String) -> String {
        s.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }

    static func bytesLess(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    static func rowsLess(_ a: [String], _ b: [String]) -> Bool {
        for (x, y) in zip(a, b) where x != y { return bytesLess(x, y) }
        return a.count < b.count
    }

    func renderRows(_ rec: Record, _ r: ResultSet, classic: Bool) -> [[String]] {
        let types = rec.types.isEmpty ? String(repeating: "T", count: r.columns.count) : rec.types
        let tarr = Array(types)
        return r.rows.map { row in
            (0..<r.columns.count).map { c in SLTRunner.render(row.text(c), c < tarr.count ? tarr[c] : "T", classic: classic) }
        }
    }

    func sortedValuesForLabel(_ rec: Record, _ r: ResultSet, classic: Bool, _ sortDefault: String?) -> [String] {
        var rows = renderRows(rec, r, classic: classic)
        let mode = rec.sortMode ?? sortDefault ?? "nosort"
        if mode == "rowsort" { rows.sort(by: SLTRunner.rowsLess) }
        var vals = rows.flatMap { $0 }
        if mode == "valuesort" { vals.sort(by: SLTRunner.bytesLess) }
        return vals
    }

    func check(_ rec: Record, _ r: ResultSet, classic: Bool, _ sortDefault: String?) -> String? {
        let ncols = rec.types.count
        let nf = r.columns.count
        if classic && ncols > 0 && nf != ncols { return "wrong number of columns: expected \(ncols) got \(nf)" }
        var rows = renderRows(rec, r, classic: classic)
        let mode = rec.sortMode ?? sortDefault ?? "nosort"
        var values: [String]
        if mode == "rowsort" {
            rows.sort(by: SLTRunner.rowsLess)
            values = rows.flatMap { $0 }
        } else if mode == "valuesort" {
            values = rows.flatMap { $0 }.sorted(by: SLTRunner.bytesLess)
            rows = values.map { [$0] }
        } else {
            values = rows.flatMap { $0 }
        }
        let expected = rec.expected ?? []
        if expected.count == 1, let m = SLTRunner.hashLine(expected[0]) {
            let h = SLTRunner.md5(values)
            if m.0 != values.count || h != m.1 {
                return "expected \(m.0) values hashing to \(m.1), got \(values.count) values hashing to \(h)"
            }
            return nil
        }
        if expected.count == values.count && (classic || nf <= 1 || rows.count != expected.count) {
            var ok = classic ? expected == values : expected.map(SLTRunner.norm) == values.map(SLTRunner.norm)
            if !ok && (mode == "rowsort" || mode == "valuesort") && nf > 0 {
                let width = mode == "valuesort" ? 1 : nf
                if expected.count % width == 0 {
                    func chunks(_ v: [String]) -> [[String]] {
                        stride(from: 0, to: v.count, by: width).map { Array(v[$0..<$0 + width]).map(SLTRunner.norm) }
                    }
                    ok = chunks(expected).sorted(by: SLTRunner.rowsLess) == chunks(values).sorted(by: SLTRunner.rowsLess)
                }
            }
            if ok { return nil }
            for (k, (e, a)) in zip(expected, values).enumerated() where (classic ? e : SLTRunner.norm(e)) != (classic ? a : SLTRunner.norm(a)) {
                return "value \(k + 1): expected [\(e)] got [\(a)]"
            }
            return "results differ"
        }
        if expected.count == rows.count {
            let act = rows.map { SLTRunner.norm($0.joined(separator: " ")) }
            let exp = expected.map(SLTRunner.norm)
            if act == exp { return nil }
            if (mode == "rowsort" || mode == "valuesort") && act.sorted() == exp.sorted() { return nil }
            for (k, (e, a)) in zip(exp, act).enumerated() where e != a { return "row \(k + 1): expected [\(e)] got [\(a)]" }
            return "results differ"
        }
        return "expected \(expected.count) result lines, got \(rows.count) rows (\(values.count) values)"
            + (rows.first.map { ": first got [\($0.joined(separator: " "))]" } ?? "")
    }

    static func hashLine(_ s: String) -> (Int, String)? {
        let t = s.split(separator: " ").map(String.init)
        guard t.count == 5, t[1] == "values", t[2] == "hashing", t[3] == "to", let n = Int(t[0]), t[4].count == 32 else { return nil }
        return (n, t[4].lowercased())
    }

    /// Runs one file in a fresh in-memory database.
    public func run(file path: String) -> FileResult {
        var res = FileResult(file: path)
        let start = Date()
        defer { }
        guard let data = FileManager.default.contents(atPath: path) else {
            res.error = "cannot read"
            return res
        }
        return run(text: String(decoding: data, as: UTF8.self), name: path, start: start)
    }

    /// Runs sqllogictest text; `name` decides the rendering (`.test` classic, else text).
    public func run(text: String, name: String, start: Date = Date()) -> FileResult {
        var res = FileResult(file: name)
        let classic = name.hasSuffix(".test")
        let records = SLTRunner.parse(text)
        var plan: [Record] = []
        var planned = 0
        var modeSkip = false
        for rec in records {
            if rec.kind == "mode" { modeSkip = rec.arg == "skip"; continue }
            if ["statement", "query", "unsupported"].contains(rec.kind) {
                if modeSkip || !applies(rec) { res.skipped += 1; continue }
                if rec.kind == "unsupported" { res.error = "unsupported directive at line \(rec.line): \(rec.arg)"; break }
                if maxRecords > 0 && planned >= maxRecords { break }
                plan.append(rec)
                planned += 1
            } else if rec.kind == "halt" {
                if applies(rec) { break }
            } else {
                plan.append(rec)
            }
        }
        let db: Database
        // APUS_SLT_LAYOUT=sequence|mvcc runs the files on that storage layout (default: the default layout).
        guard let layout = SQLStorageLayout.named(ProcessInfo.processInfo.environment["APUS_SLT_LAYOUT"]) else {
            res.error = "APUS_SLT_LAYOUT must be sequence or mvcc"
            res.failed = planned
            return res
        }
        do { db = try Database.inMemory(layout: layout) } catch {
            res.error = "cannot open database: \(error)"
            res.failed = planned
            return res
        }
        defer { try? db.close() }
        var sortDefault: String?
        var labels: [String: String] = [:]
        func fail(_ rec: Record, _ why: String) {
            res.failed += 1
            if res.failures.count < showFailures {
                res.failures.append("\(name):\(rec.line): \(why)\n    \(rec.sql.replacingOccurrences(of: "\n", with: "\n    ").prefix(2000))")
            }
        }
        for rec in plan {
            if rec.kind == "hash-threshold" { continue }
            if rec.kind == "control" {
                let p = rec.arg.split(separator: " ")
                if p.count == 2 && p[0] == "sortmode" && ["nosort", "rowsort", "valuesort"].contains(String(p[1])) { sortDefault = String(p[1]) }
                continue
            }
            var result: ResultSet?
            var err: SQLError?
            do { result = try db.execute(rec.sql) } catch { err = error }
            if rec.kind == "statement" {
                if rec.expectError {
                    if err == nil { fail(rec, "statement succeeded, an error was expected") } else { res.passed += 1 }
                } else if let err {
                    fail(rec, "statement failed: \(err.message) (\(err.sqlState))")
                } else if let c = rec.expectCount, result?.rowsAffected != c {
                    fail(rec, "expected count \(c), got \(result?.rowsAffected ?? -1)")
                } else {
                    res.passed += 1
                }
                continue
            }
            if rec.expectError {
                if err == nil { fail(rec, "query succeeded, an error was expected") } else { res.passed += 1 }
                continue
            }
            guard let r = result, err == nil else {
                fail(rec, "query failed: \(err?.message ?? "") (\(err?.sqlState.code ?? ""))")
                continue
            }
            var why: String?
            var digest: String?
            if let label = rec.label { digest = SLTRunner.md5(sortedValuesForLabel(rec, r, classic: classic, sortDefault)); _ = label }
            if let label = rec.label, (rec.expected ?? []).isEmpty, let prev = labels[label] {
                why = prev == digest ? nil : "result differs from the earlier query labelled \(label)"
            } else {
                why = check(rec, r, classic: classic, sortDefault)
                if why == nil, let label = rec.label, let digest {
                    if let prev = labels[label] {
                        if prev != digest { why = "result for label \(label) differs from an earlier query with that label" }
                    } else {
                        labels[label] = digest
                    }
                }
            }
            if let why { fail(rec, why) } else { res.passed += 1 }
        }
        let ran = res.passed + res.failed
        if ran < planned { res.failed += planned - ran }
        res.seconds = Date().timeIntervalSince(start)
        return res
    }

    /// The `.test`/`.slt` files under the given files and folders, sorted as the reference runner walks them.
    public static func collectFiles(_ paths: [String]) -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        for p in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: p, isDirectory: &isDir) else { continue }
            if !isDir.boolValue { out.append(p); continue }
            out += walk(p)
        }
        return out
    }

    static func walk(_ dir: String) -> [String] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: dir) else { return [] }
        var files: [String] = []
        var dirs: [String] = []
        for n in names {
            let p = dir.hasSuffix("/") ? dir + n : dir + "/" + n
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: p, isDirectory: &isDir)
            if isDir.boolValue { dirs.append(p) } else if n.hasSuffix(".test") || n.hasSuffix(".slt") { files.append(n) }
        }
        // os.walk yields this folder's files before descending, files and folders sorted by name.
        var out = files.sorted().map { dir.hasSuffix("/") ? dir + $0 : dir + "/" + $0 }
        for d in dirs.sorted() { out += walk(d) }
        return out
    }
}
